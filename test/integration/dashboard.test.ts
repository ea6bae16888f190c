// The operator dashboard at / in a real browser (Debian's Chromium), against a listening berth with tokens.
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { dashboardPolicy } from '../../src/http/dashboard.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { artifacts, launchChromium } from './chromium.ts';
import { createHarness, docker, freePort, testImage, type Harness } from './harness.ts';
import { removeImage, startRegistry, type Registry } from './registry.ts';

const operator = newToken('dashboard-operator', 'operator');
const viewer = newToken('dashboard-viewer', 'viewer');
const logger = pino({ level: 'silent' });
const waitLong = { timeout: 30_000 };

declare global {
  interface Window {
    /** What a recorder (record below) saw, by its key. */
    seen?: Record<string, string[]>;
  }
}

/**
 * Records every value an element's attribute takes in the page, as the page renders it (a
 * MutationObserver, so no state is missed between two polls): `[]` until the element exists.
 */
async function record(page: Page, key: string, selector: string, attributes: string[]): Promise<() => Promise<string[]>> {
  await page.evaluate(
    ({ key, selector, attributes }) => {
      const seen = (window.seen ??= {});
      const values: string[] = (seen[key] = []);
      const look = () => {
        const element = document.querySelector(selector);
        const value = element && attributes.map((name) => element.getAttribute(name)).join(' ');
        if (value && values.at(-1) !== value) values.push(value);
      };
      look();
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    },
    { key, selector, attributes },
  );
  return () => page.evaluate((key) => window.seen?.[key] ?? [], key);
}

describe('the dashboard at / in Chromium', () => {
  let berth: Harness;
  let registry: Registry;
  let pulledImage: string;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  let origin: string;
  let browser: Browser;
  let page: Page;

  const row = (name: string) => page.locator(`[data-module="${name}"]`);
  const status = (name: string) => row(name).locator('.status');
  const containerName = (name: string) => berth.modules.get(name).spec.containerName;

  /** Opens the dashboard and enters a token in its sign-in form. */
  async function signIn(token: string) {
    await page.goto(`${origin}/`);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
  }

  beforeAll(async () => {
    // 12 MB at 4 MB/s: a pull of about 3 s, long enough for the page to show it move whatever the machine.
    registry = await startRegistry({ bytesPerSecond: 4_000_000 });
    pulledImage = await registry.pushLayeredImage(`berth-test/dashboard-${Math.random().toString(36).slice(2, 8)}`);
    const port = await freePort();
    berth = createHarness(
      `modules:\n` +
        `  web:\n    kind: web{{run}}\n    image: ${testImage}\n    ports:\n      http: { in: 8080, out: ${port}, host: 127.0.0.1 }\n` +
        `  worker:\n    kind: worker{{run}}\n    image: ${testImage}\n    autostart: false\n` +
        `  tts:\n    kind: tts{{run}}\n    image: ${pulledImage}\n    autostart: false\n`,
    );
    await berth.ready();
    const tokensFile = join(await mkdtemp(join(tmpdir(), 'berth-dashboard-tokens-')), 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n${viewer.line}\n`);
    auth = await TokenFileAuthenticator.open(tokensFile, logger);
    server = await listen(createBerthApp({ modules: berth.modules, logger, auth }), { host: '127.0.0.1', port: 0, auth });
    origin = new URL(server.url).origin;
    browser = await launchChromium();
  });
  // A new context each test: sessionStorage (the token) starts empty.
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  });
  afterEach(async () => {
    await page?.context().close();
  });
  afterAll(async () => {
    auth?.close();
    await browser?.close();
    await server?.close();
    await berth?.cleanup();
    if (pulledImage) await removeImage(pulledImage);
    await registry?.stop();
  });

  it('serves the page and its assets without a token, with a strict policy, while the API still needs one', async () => {
    const pageAnswer = await fetch(`${origin}/`);
    expect(pageAnswer.status).toBe(200);
    expect(pageAnswer.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(pageAnswer.headers.get('cache-control')).toBe('no-cache');
    expect(pageAnswer.headers.get('content-security-policy')).toBe(dashboardPolicy);
    expect(pageAnswer.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await pageAnswer.text();
    // No inline script: every script is a file of its own.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${origin}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await fetch(`${origin}/assets/nothing-here.js`)).status).toBe(404);
    const api = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ modules { name } }' }) });
    expect(api.status).toBe(401);
  });

  it('shows a viewer a status change made outside berth (docker stop), live, without a reload and without operator buttons', async () => {
    await berth.gql(StartModuleDocument, { name: 'web' });
    await signIn(viewer.token);
    await expect.poll(() => status('web').getAttribute('data-status'), waitLong).toBe('RUNNING');
    await expect(page.locator('.role').innerText()).resolves.toBe('dashboard-viewer (viewer)');
    expect(await page.getByRole('button', { name: /^(Start|Stop|Restart|Pull image|Logs & stats)$/ }).count()).toBe(0);
    expect(await page.getByRole('checkbox').count()).toBe(0);
    expect(await row('web').getByRole('link', { name: /^http :\d+$/ }).getAttribute('href')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // Marks this document: after the change it must be the same one, not a reload.
    await page.evaluate(() => document.body.setAttribute('data-loaded-once', 'yes'));

    await docker.getContainer(containerName('web')).stop({ t: 5 });
    await expect.poll(() => status('web').getAttribute('data-status'), waitLong).toBe('EXITED');
    expect(await status('web').innerText()).toMatch(/^exited \(\d+\)$/);
    expect(await page.locator('body').getAttribute('data-loaded-once')).toBe('yes');
    await page.screenshot({ path: join(artifacts, 'dashboard-viewer.png'), fullPage: true });
  });

  it('lets an operator start a stopped module and shows it HANDLING, then RUNNING', async () => {
    await berth.gql(StopModuleDocument, { name: 'worker', timeoutSeconds: 5 });
    await signIn(operator.token);
    await expect.poll(() => status('worker').getAttribute('data-status'), waitLong).toMatch(/^(NOT_CREATED|EXITED)$/);
    const shown = await record(page, 'worker', '[data-module="worker"] .status', ['data-status']);
    // By keyboard: the buttons are real buttons.
    await row('worker').getByRole('button', { name: 'Start', exact: true }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await shown()).at(-1), waitLong).toBe('RUNNING');
    const statuses = await shown();
    expect(statuses).toContain('HANDLING');
    expect(statuses.indexOf('HANDLING')).toBeLessThan(statuses.lastIndexOf('RUNNING'));
    expect(berth.modules.get('worker').status).toBe('RUNNING');
    await page.screenshot({ path: join(artifacts, 'dashboard-operator.png'), fullPage: true });
  });

  it('starts and stops the selected modules together', async () => {
    await signIn(operator.token);
    await expect.poll(() => status('worker').getAttribute('data-status'), waitLong).not.toBe(null);
    await page.getByRole('checkbox', { name: 'Select web' }).check();
    await page.getByRole('checkbox', { name: 'Select worker' }).check();
    await page.getByRole('button', { name: 'Stop selected' }).click();
    await expect.poll(async () => [await status('web').getAttribute('data-status'), await status('worker').getAttribute('data-status')], waitLong).toEqual(['EXITED', 'EXITED']);
    await page.getByRole('button', { name: 'Start selected' }).click();
    await expect.poll(async () => [await status('web').getAttribute('data-status'), await status('worker').getAttribute('data-status')], waitLong).toEqual(['RUNNING', 'RUNNING']);
  });

  it("pulls a NOT_LOADED module's image from a registry, the progress bar moving to the end", async () => {
    await signIn(operator.token);
    await expect.poll(() => status('tts').getAttribute('data-status'), waitLong).toBe('NOT_LOADED');
    const shown = await record(page, 'pull', '[data-module="tts"] .pull-progress', ['data-state', 'data-current', 'data-total']);
    await row('tts').getByRole('button', { name: 'Pull image' }).click();
    await expect.poll(async () => (await shown()).at(-1)?.split(' ')[0], waitLong).toBe('DONE');
    const progress = (await shown()).map((entry) => entry.split(' ')).map(([state, current, total]) => ({ state, current: Number(current), total: Number(total) }));
    const pulling = progress.filter((entry) => entry.state === 'PULLING');
    // The bar moved: it showed part of the bytes before the end, and never went back.
    expect(pulling.some((entry) => entry.current > 0 && entry.current < entry.total)).toBe(true);
    const currents = pulling.map((entry) => entry.current);
    expect(currents).toEqual([...currents].sort((a, b) => a - b));
    expect(progress.at(-1)!.current).toBe(progress.at(-1)!.total);
    await expect.poll(() => status('tts').getAttribute('data-status'), waitLong).toBe('NOT_CREATED');
    await page.screenshot({ path: join(artifacts, 'dashboard-pull.png'), fullPage: true });
  });

  it("follows a module's log: a line the container prints appears in the log view; its CPU and memory are charted", async () => {
    await berth.gql(StartModuleDocument, { name: 'web' });
    await signIn(operator.token);
    await expect.poll(() => status('web').getAttribute('data-status'), waitLong).toBe('RUNNING');
    await row('web').getByRole('button', { name: 'Logs & stats' }).click();
    const log = row('web').getByRole('log');
    await expect.poll(() => log.isVisible(), waitLong).toBe(true);
    const marker = `dashboard-marker-${Math.random().toString(36).slice(2, 8)}`;
    // Written to the stdout of the container's first process: the container's own log, as if it printed it.
    const exec = await docker.getContainer(containerName('web')).exec({ Cmd: ['sh', '-c', `echo ${marker} > /proc/1/fd/1`] });
    await exec.start({ Detach: true });
    await expect.poll(() => log.innerText(), waitLong).toContain(marker);
    await expect.poll(async () => Number(await row('web').locator('.stats').getAttribute('data-readings')), waitLong).toBeGreaterThanOrEqual(2);
    expect(await row('web').getByRole('img', { name: 'CPU of web' }).locator('polyline').getAttribute('points')).toMatch(/^[\d.]+,[\d.]+ [\d.]+,[\d.]+/);
    await page.screenshot({ path: join(artifacts, 'dashboard-logs.png'), fullPage: true });
  });

  it('refuses a wrong token with a clear message, keeps a good one across a reload of the tab, and forgets it when asked', async () => {
    await signIn('not-a-token');
    await expect.poll(() => page.getByRole('alert').innerText(), waitLong).toContain('berth refused this token (UNAUTHENTICATED)');
    await page.getByLabel('Token').fill(operator.token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await expect.poll(() => status('web').count(), waitLong).toBe(1);
    await page.reload();
    await expect.poll(() => status('web').count(), waitLong).toBe(1);
    expect(await page.getByLabel('Token').count()).toBe(0);
    await page.getByRole('button', { name: 'Forget token' }).click();
    await expect.poll(() => page.getByLabel('Token').count(), waitLong).toBe(1);
    await page.reload();
    await expect.poll(() => page.getByLabel('Token').count(), waitLong).toBe(1);
  });

  it('shows the connection dropped, reconnects by itself, and is live again', async () => {
    const sockets = new Set<Socket>();
    const track = (socket: Socket) => sockets.add(socket);
    server.server.on('connection', track);
    try {
      await signIn(operator.token);
      await expect.poll(() => page.locator('.connection').getAttribute('data-state'), waitLong).toBe('connected');
      await expect.poll(() => status('worker').count(), waitLong).toBe(1);
      const shown = await record(page, 'connection', '.connection', ['data-state']);
      for (const socket of sockets) socket.destroy();
      await expect.poll(async () => (await shown()).includes('disconnected'), waitLong).toBe(true);
      await expect.poll(async () => (await shown()).at(-1), waitLong).toBe('connected');
      // The module subscription is open again: a change made now shows.
      const wanted = berth.modules.get('worker').status === 'RUNNING' ? 'EXITED' : 'RUNNING';
      if (wanted === 'RUNNING') await berth.gql(StartModuleDocument, { name: 'worker' });
      else await berth.gql(StopModuleDocument, { name: 'worker', timeoutSeconds: 5 });
      await expect.poll(() => status('worker').getAttribute('data-status'), waitLong).toBe(wanted);
    } finally {
      server.server.off('connection', track);
    }
  });

  it('reads at a narrow width (360 px) without scrolling sideways', async () => {
    await page.setViewportSize({ width: 360, height: 760 });
    await signIn(operator.token);
    await expect.poll(() => status('tts').count(), waitLong).toBe(1);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(360);
    await page.screenshot({ path: join(artifacts, 'dashboard-narrow.png'), fullPage: true });
  });

  it('asks for no token while authentication is off (berth on loopback), and an operator may act', async () => {
    const open = await listen(createBerthApp({ modules: berth.modules, logger, loopbackHostOnly: true }), { host: '127.0.0.1', port: 0, loopbackHostOnly: true });
    try {
      await page.goto(`${new URL(open.url).origin}/`);
      await expect.poll(() => status('web').count(), waitLong).toBe(1);
      expect(await page.locator('.role').innerText()).toBe('authentication off');
      expect(await page.getByLabel('Token').count()).toBe(0);
      expect(await row('web').getByRole('button', { name: 'Restart' }).count()).toBe(1);
    } finally {
      await page.close();
      await open.close();
    }
  });
});
