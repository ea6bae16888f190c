// The audit trail of a real berth with a tokens file: every mutation, every refused request and every token
// revoked is one JSON line, on stdout with the logs and in BERTH_AUDIT_FILE, without a secret.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { AuditLog, type AuditEntry } from '../../src/lib/audit-log.ts';
import { StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { wsClient } from './subscription.ts';

const operator = newToken('ci', 'operator');
const viewer = newToken('grafana', 'viewer');

type Line = AuditEntry & { time: string };

describe('the audit trail', () => {
  let berth: Harness;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  let audit: AuditLog;
  let folder: string;
  let tokensFile: string;
  const logged: Line[] = [];

  const fileLines = async () => (await readFile(join(folder, 'audit.jsonl'), 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as Line);
  /** The audit lines written since `from`, once `count` of them are there. */
  const linesAfter = async (from: number, count: number) => {
    await waitFor(() => logged.length >= from + count, `${count} audit lines`);
    return logged.slice(from);
  };

  async function post(query: string, variables: Record<string, unknown>, token?: string, headers: Record<string, string> = {}) {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, requestId: response.headers.get('x-request-id'), body: (await response.json()) as { errors?: { extensions?: { code?: string } }[] } };
  }

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    tokensFile = join(folder, 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n${viewer.line}\n`);
    berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n  db:\n    kind: db{{run}}\n    image: ${testImage}\n    autostart: false\n`);
    await berth.ready();
    const logger = pino({ level: 'info' }, { write: (line: string) => void ((JSON.parse(line) as { audit?: Line }).audit && logged.push((JSON.parse(line) as { audit: Line }).audit)) });
    audit = new AuditLog(logger, { file: join(folder, 'audit.jsonl') });
    auth = await TokenFileAuthenticator.open(tokensFile, pino({ level: 'silent' }), audit);
    server = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth, audit }), { host: '127.0.0.1', port: 0, auth, audit });
  });
  afterAll(async () => {
    auth?.close();
    await server?.close();
    audit?.close();
    await berth?.cleanup();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('writes each mutation with who, role, modules, outcome, duration and the request id the client gave', async () => {
    const from = logged.length;
    const started = await post(print(StartModuleDocument), { name: 'web' }, operator.token, { 'x-request-id': 'deploy-42' });
    expect(started.requestId).toBe('deploy-42');
    const [line] = await linesAfter(from, 1);
    expect(line).toMatchObject({ principal: 'ci', role: 'operator', operation: 'startModule', modules: ['web'], outcome: 'ok', requestId: 'deploy-42' });
    expect(line!.durationMs).toBeGreaterThan(0);
    expect(Date.parse(line!.time)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("writes a failed mutation's error code and message, and a batch's outcome per module", async () => {
    const from = logged.length;
    const failed = await post(print(StopModuleDocument), { name: 'nope', timeoutSeconds: 0 }, operator.token);
    expect(failed.body.errors?.[0]?.extensions?.code).toBe('MODULE_NOT_FOUND');
    await post('mutation($names: [String!]!) { startModules(names: $names) { name } }', { names: ['db', 'nope'] }, operator.token);
    const [stop, batch] = await linesAfter(from, 2);
    expect(stop).toMatchObject({ principal: 'ci', operation: 'stopModule', modules: ['nope'], outcome: 'MODULE_NOT_FOUND', details: { timeoutSeconds: 0, message: expect.stringContaining('nope') } });
    expect(stop!.requestId).toMatch(/^[\w-]{36}$/);
    expect(batch).toMatchObject({ operation: 'startModules', modules: ['db', 'nope'], outcome: 'partial', details: { failed: { nope: 'MODULE_NOT_FOUND' } } });
  });

  it('writes a request refused for want of a token (401) and one refused for its role (403)', async () => {
    const from = logged.length;
    expect((await post(print(StopModuleDocument), { name: 'web' })).status).toBe(401);
    const forbidden = await post(print(StopModuleDocument), { name: 'web' }, viewer.token);
    expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const [unauthenticated, refused] = await linesAfter(from, 2);
    expect(unauthenticated).toMatchObject({ principal: null, operation: 'POST /graphql', outcome: 'UNAUTHENTICATED', details: { address: '127.0.0.1' } });
    expect(refused).toMatchObject({ principal: 'grafana', role: 'viewer', operation: 'stopModule', modules: ['web'], outcome: 'FORBIDDEN' });
    expect(refused!.requestId).toBe(forbidden.requestId);
    expect(berth.store.get('web')?.status).toBe('RUNNING');
  });

  it('writes graphql-ws mutations and refusals with the connection and operation in the request id', async () => {
    const from = logged.length;
    const client = wsClient(server, { authorization: `Bearer ${operator.token}` });
    const stopped = await client.iterate({ query: print(StopModuleDocument), variables: { name: 'db', timeoutSeconds: 0 } }).next();
    expect(stopped.value).toMatchObject({ data: { stopModule: { status: 'EXITED' } } });
    await client.dispose();
    // Lazy: the refused connection is this operation's error, not one graphql-ws reports on its own.
    const stranger = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: 'Bearer berth_nobody' } });
    await expect(stranger.iterate({ query: 'subscription { moduleStatusChanged { status } }' }).next()).rejects.toMatchObject({ code: 4403 });
    await stranger.dispose();
    const [stop, connect] = await linesAfter(from, 2);
    expect(stop).toMatchObject({ principal: 'ci', role: 'operator', operation: 'stopModule', modules: ['db'], outcome: 'ok' });
    expect(stop!.requestId).toMatch(/^[\w-]{36}\/[\w-]+$/);
    expect(connect).toMatchObject({ principal: null, operation: 'graphql-ws connect', outcome: 'UNAUTHENTICATED' });
  });

  it('writes each token revoked by an edit of the tokens file, by name', async () => {
    const from = logged.length;
    await writeFile(tokensFile, `tokens:\n${operator.line}\n`);
    const [revoked] = await linesAfter(from, 1);
    expect(revoked).toMatchObject({ principal: 'tokens file', operation: 'revokeToken', outcome: 'ok', details: { token: 'grafana', role: 'viewer' } });
  });

  it('appends the same lines to BERTH_AUDIT_FILE, and never a token', async () => {
    await waitFor(async () => (await fileLines()).length === logged.length, 'the file to hold every line');
    expect(await fileLines()).toEqual(logged);
    const text = await readFile(join(folder, 'audit.jsonl'), 'utf8');
    for (const token of [operator.token, viewer.token, 'berth_nobody']) expect(text).not.toContain(token);
  });
});
