// GraphiQL in a real browser: Debian's Chromium, driven by playwright-core (no browser download).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createBerthApp } from '../../src/graphql/app.ts';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { FrontendModulesDocument, StartModuleDocument } from '../generated/operations.ts';
import { artifacts, launchChromium } from './chromium.ts';
import { createHarness, testImage, type Harness } from './harness.ts';

const operator = newToken('browser', 'operator');

describe('GraphiQL in Chromium', () => {
  let berth: Harness;
  let server: RunningServer;
  let browser: Browser;
  let page: Page;
  let auth: TokenFileAuthenticator;
  let tokensFile: string;

  /** Opens GraphiQL with an operation in its editor, puts the token in its Headers tab, and runs it. */
  async function run(operation: string) {
    const headers = `{"Authorization": "Bearer ${operator.token}"}`;
    await page.goto(`${server.url}?query=${encodeURIComponent(operation)}`);
    await page.getByText('Headers', { exact: true }).click();
    const editor = page.locator('.graphiql-editor-tool .monaco-editor').last();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type(headers);
    // Monaco closes brackets and quotes as they are typed: run only once the editor holds exactly the headers.
    await expect.poll(async () => (await editor.locator('.view-lines').innerText()).replaceAll('\u00a0', ' ')).toBe(headers);
    await page.locator('.graphiql-execute-button').click();
  }
  const response = () => page.locator('.graphiql-response');

  beforeAll(async () => {
    berth = createHarness(`modules:\n  worker:\n    kind: worker{{run}}\n    image: ${testImage}\n    autostart: false\n`);
    await berth.ready();
    // With authentication on, as a new user would run it: a token from npm run token in the Headers tab.
    tokensFile = join(await mkdtemp(join(tmpdir(), 'berth-tokens-')), 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n`);
    auth = await TokenFileAuthenticator.open(tokensFile, pino({ level: 'silent' }));
    server = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth }), { host: '127.0.0.1', port: 0, auth });
    browser = await launchChromium();
  });
  // Each test in a new browser context: GraphiQL keeps its tabs and headers in localStorage, and a page that
  // saw an earlier test's run opens the next tab with that test's headers already in the Headers tab.
  beforeEach(async () => {
    page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  });
  afterEach(async () => {
    await page?.close();
  });
  afterAll(async () => {
    auth?.close();
    await browser?.close();
    await server?.close();
    await berth?.cleanup();
  });

  it('runs the frontend query and shows the modules', async () => {
    await run(print(FrontendModulesDocument));
    await expect.poll(() => response().innerText(), { timeout: 15_000 }).toContain('"worker"');
    expect(await response().innerText()).toContain('"NOT_CREATED"');
    await page.screenshot({ path: join(artifacts, 'graphiql-query.png') });
  });

  it('subscribes to status changes and shows the one a start makes', async () => {
    // initial: true first shows the current status, which tells that the subscription is open.
    await run('subscription { moduleStatusChanged(names: ["worker"], initial: true) { module { name } previous status at } }');
    await expect.poll(() => response().innerText(), { timeout: 15_000 }).toContain('"NOT_CREATED"');
    const started = await berth.gql(StartModuleDocument, { name: 'worker' });
    expect(started.data?.startModule.status).toBe('RUNNING');
    await expect.poll(() => response().innerText(), { timeout: 15_000 }).toContain('"RUNNING"');
    await page.screenshot({ path: join(artifacts, 'graphiql-subscription.png') });
  });
});
