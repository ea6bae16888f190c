// A token the tokens file drops brings the dashboard's sign-in back (README: Dashboard, Token).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { launchChromium } from './chromium.ts';
import { createHarness, testImage, type Harness } from './harness.ts';

const operator = newToken('dash-operator', 'operator');
const other = newToken('dash-other', 'viewer');
const waitLong = { timeout: 30_000 };

describe('a revoked token on the dashboard', () => {
  let berth: Harness;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  let browser: Browser;
  let tokensFile: string;

  beforeAll(async () => {
    berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n`);
    await berth.ready();
    tokensFile = join(await mkdtemp(join(tmpdir(), 'berth-dashboard-tokens-')), 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n${other.line}\n`);
    auth = await TokenFileAuthenticator.open(tokensFile, pino({ level: 'silent' }));
    server = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth }), { host: '127.0.0.1', port: 0, auth });
    browser = await launchChromium();
  });
  afterAll(async () => {
    auth?.close();
    await browser?.close();
    await server?.close();
    await berth?.cleanup();
  });

  it('asks for a token again once the tokens file drops the one in use', async () => {
    const page = await browser.newPage();
    await page.goto(`${new URL(server.url).origin}/`);
    await page.getByLabel('Token').fill(operator.token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await expect.poll(() => page.locator('[data-module="web"]').count(), waitLong).toBe(1);
    await writeFile(tokensFile, `tokens:\n${other.line}\n`);
    await expect.poll(() => page.getByLabel('Token').count(), waitLong).toBe(1);
    expect(await page.getByRole('alert').innerText()).toContain('no longer accepts this token');
    await page.context().close();
  });
});
