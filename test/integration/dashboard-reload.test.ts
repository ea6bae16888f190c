// The dashboard against what moduleChanged does not say (a module a reload removed), and after a dropped connection.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { launchChromium } from './chromium.ts';
import { StartModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, testImage, type Harness } from './harness.ts';

const logger = pino({ level: 'silent' });
const waitLong = { timeout: 30_000 };

describe('the dashboard after a reload and a reconnect', () => {
  let berth: Harness;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let file: string;

  beforeAll(async () => {
    file = join(await mkdtemp(join(tmpdir(), 'berth-dashboard-')), 'docker.yaml');
    berth = createHarness(
      `modules:\n  keep:\n    kind: keep{{run}}\n    image: ${testImage}\n    autostart: false\n  gone:\n    kind: gone{{run}}\n    image: ${testImage}\n    autostart: false\n`,
      { file, reloadable: true },
    );
    await berth.ready();
    server = await listen(createBerthApp({ modules: berth.modules, config: berth.reloader, logger, loopbackHostOnly: true }), { host: '127.0.0.1', port: 0, loopbackHostOnly: true });
    browser = await launchChromium();
    page = await browser.newPage();
  });
  afterAll(async () => {
    await page?.context().close();
    await browser?.close();
    await server?.close();
    await berth?.cleanup();
  });

  // moduleChanged without names lets a removed module go quietly: the page asks which modules are declared.
  it('drops a module that a reload of docker.yaml removed', async () => {
    await page.goto(`${new URL(server.url).origin}/`);
    const row = (name: string) => page.locator(`[data-module="${name}"]`);
    await expect.poll(() => row('gone').count(), waitLong).toBe(1);
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.slice(0, text.indexOf('  gone:')));
    await berth.reloader.reload('SIGHUP');
    await expect.poll(async () => (await berth.gql<{ modules: { name: string }[] }>('{ modules { name } }')).data?.modules.map((module) => module.name), waitLong).toEqual(['keep']);
    await expect.poll(() => row('gone').count(), waitLong).toBe(0);
  });

  // graphql-ws resubscribes moduleLogs(tail: 100) after a reconnect: the tail replaces what the page showed.
  it('shows a log line once after the connection dropped and came back', async () => {
    const sockets = new Set<Socket>();
    const track = (socket: Socket) => sockets.add(socket);
    server.server.on('connection', track);
    try {
      await berth.gql(StartModuleDocument, { name: 'keep' });
      await page.goto(`${new URL(server.url).origin}/`);
      const row = page.locator('[data-module="keep"]');
      await expect.poll(() => row.locator('.status').getAttribute('data-status'), waitLong).toBe('RUNNING');
      await row.getByRole('button', { name: 'Logs & stats' }).click();
      const log = row.getByRole('log');
      const print = async (text: string) => {
        const exec = await docker.getContainer(berth.modules.get('keep').spec.containerName).exec({ Cmd: ['sh', '-c', `echo ${text} > /proc/1/fd/1`] });
        await exec.start({ Detach: true });
        await expect.poll(() => log.innerText(), waitLong).toContain(text);
      };
      const marker = `dash-${Math.random().toString(36).slice(2, 8)}`;
      await print(marker);
      await page.evaluate(() => {
        const states: (string | null | undefined)[] = ((window as unknown as { states: typeof states }).states = []);
        new MutationObserver(() => states.push(document.querySelector('.connection')?.getAttribute('data-state'))).observe(document.body, { subtree: true, childList: true, attributes: true });
      });
      for (const socket of sockets) socket.destroy();
      await expect.poll(() => page.evaluate(() => (window as unknown as { states: string[] }).states.includes('disconnected')), waitLong).toBe(true);
      await expect.poll(() => page.locator('.connection').getAttribute('data-state'), waitLong).toBe('connected');
      // A line printed after the reconnect shows after whatever the resubscribed log sends first.
      await print(`${marker}-after`);
      expect((await log.innerText()).split(`${marker}\n`).length - 1).toBe(1);
    } finally {
      server.server.off('connection', track);
    }
  });
});
