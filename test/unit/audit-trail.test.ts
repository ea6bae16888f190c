// The audit trail's edges, through the whole app on a fake engine: refusals on every path, fragments at the
// root, a quiet LOG_LEVEL, a file closed at shutdown, a file named by digits.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { noAuthentication, type Authenticator } from '../../src/auth/authenticator.ts';
import { authenticate, newToken, type TokenEntry } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { AuditLog, type AuditEntry } from '../../src/lib/audit-log.ts';
import { localFleet, moduleSpec, until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });
const operator = newToken('ci', 'operator');
const viewer = newToken('grafana', 'viewer');

function entry(name: string, role: 'viewer' | 'operator', token: string): TokenEntry {
  return { name, role, digest: createHash('sha256').update(token).digest() };
}

const tokens: Authenticator = {
  enabled: true,
  authenticate: (token) => authenticate([entry('ci', 'operator', operator.token), entry('grafana', 'viewer', viewer.token)], token),
  isCurrent: () => true,
  onChange: () => () => {},
  close: () => {},
};

function capture(level = 'info') {
  const lines: (AuditEntry & { time: string })[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const line = JSON.parse(chunk.toString()) as { audit?: AuditEntry & { time: string } };
      if (line.audit) lines.push(line.audit);
      done();
    },
  });
  return { lines, audit: new AuditLog(pino({ level }, sink)) };
}

async function fleet() {
  return (await localFleet(moduleSpec('web'))).fleet;
}

const post = (app: ReturnType<typeof createBerthApp>, query: string, headers: Record<string, string>) =>
  app.fetch('http://localhost/graphql', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });

describe('the audit trail at its edges', () => {
  const servers: RunningServer[] = [];
  const folders: string[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await server.close();
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  it("names the mutation a viewer was refused when the operation spreads it from a fragment at the root", async () => {
    const { lines, audit } = capture();
    const app = createBerthApp({ modules: await fleet(), logger, auth: tokens, audit });
    for (const query of [
      'mutation { ...Stop } fragment Stop on Mutation { stopModule(name: "web") { name } }',
      'mutation { ... on Mutation { stopModule(name: "web") { name } } }',
    ]) {
      const response = await post(app, query, { authorization: `Bearer ${viewer.token}` });
      expect(await response.text()).toContain('FORBIDDEN');
    }
    await until(() => lines.length === 2, 'two refusals');
    for (const line of lines) expect(line).toMatchObject({ principal: 'grafana', outcome: 'FORBIDDEN', operation: 'stopModule', modules: ['web'] });
  });

  it("names the operator-only subscription a viewer was refused through a fragment at the root (SSE)", async () => {
    const { lines, audit } = capture();
    const app = createBerthApp({ modules: await fleet(), logger, auth: tokens, audit });
    const query = 'subscription { ...Logs } fragment Logs on Subscription { moduleLogs(name: "web") { text } }';
    const response = await post(app, query, { authorization: `Bearer ${viewer.token}`, accept: 'text/event-stream' });
    expect(await response.text()).toContain('FORBIDDEN');
    await until(() => lines.length === 1, 'one refusal');
    expect(lines[0]).toMatchObject({ outcome: 'FORBIDDEN', operation: 'moduleLogs', modules: ['web'] });
  });

  it('writes a request refused by CSRF prevention (403) on a loopback berth', async () => {
    const { lines, audit } = capture();
    const app = createBerthApp({ modules: await fleet(), logger, auth: noAuthentication, loopbackHostOnly: true, audit });
    const response = await app.fetch('http://localhost/graphql', { method: 'POST', headers: { host: 'localhost', 'content-type': 'text/plain' }, body: JSON.stringify({ query: 'mutation { stopModule(name: "web") { name } }' }) });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('CSRF');
    await until(() => lines.length === 1, 'the refusal');
    expect(lines).toMatchObject([{ principal: null, operation: 'POST /graphql', outcome: 'FORBIDDEN' }]);
  });

  it('writes a graphql-ws upgrade refused for its Host on a loopback-only berth, and for a foreign Origin', async () => {
    const { lines, audit } = capture();
    const app = createBerthApp({ modules: await fleet(), logger, auth: noAuthentication, loopbackHostOnly: true, audit });
    const server = await listen(app, { host: '127.0.0.1', port: 0, loopbackHostOnly: true, audit });
    servers.push(server);
    const url = server.url.replace('http', 'ws');
    const port = new URL(server.url).port;
    for (const headers of [{ host: `evil.example:${port}` }, { origin: 'http://evil.example' }]) {
      const socket = new WebSocket(url, 'graphql-transport-ws', { headers });
      const status = await new Promise<number | undefined>((resolve) => {
        socket.on('unexpected-response', (_request, response) => resolve(response.statusCode));
        socket.on('open', () => resolve(undefined));
        socket.on('error', () => resolve(undefined));
      });
      socket.terminate();
      expect(status).toBe(401);
    }
    await until(() => lines.length === 2, 'both refusals');
    expect(lines).toMatchObject([
      { operation: 'graphql-ws upgrade', outcome: 'FORBIDDEN', details: { host: `evil.example:${port}` } },
      { operation: 'graphql-ws upgrade', outcome: 'FORBIDDEN', details: { origin: 'http://evil.example' } },
    ]);
  });

  it('writes a graphql-ws subscribe sent before connection_init (closed 4401 Unauthorized)', async () => {
    const { lines, audit } = capture();
    const app = createBerthApp({ modules: await fleet(), logger, auth: tokens, audit });
    const server = await listen(app, { host: '127.0.0.1', port: 0, auth: tokens, audit });
    servers.push(server);
    const socket = new WebSocket(server.url.replace('http', 'ws'), 'graphql-transport-ws');
    await new Promise((resolve) => socket.once('open', resolve));
    socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: 'mutation { stopModule(name: "web") { name } }' } }));
    const code = await new Promise<number>((resolve) => socket.once('close', (closed: number) => resolve(closed)));
    expect(code).toBe(4401);
    await until(() => lines.length === 1, 'the refusal');
    expect(lines).toMatchObject([{ principal: null, operation: 'graphql-ws subscribe', outcome: 'UNAUTHENTICATED' }]);
  });

  it('keeps writing audit lines to stdout when LOG_LEVEL is warn', async () => {
    const { lines, audit } = capture('warn');
    audit.write({ principal: 'ci', role: 'operator', operation: 'stopModule', modules: ['web'], outcome: 'ok', durationMs: 1 });
    await until(() => lines.length === 1, 'the line');
  });

  it('a mutation that ends after the audit file was closed (graphql-ws at shutdown) answers its result in one line', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    folders.push(folder);
    const { lines } = capture();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        const line = JSON.parse(chunk.toString()) as { audit?: AuditEntry & { time: string } };
        if (line.audit) lines.push(line.audit);
        done();
      },
    });
    const audit = new AuditLog(pino(sink), { file: join(folder, 'audit.jsonl') });
    const app = createBerthApp({ modules: await fleet(), logger, auth: tokens, audit });
    audit.close();
    const response = await post(app, 'mutation { startModule(name: "web") { status } }', { authorization: `Bearer ${operator.token}` });
    const body = await response.json();
    const outcomes = lines.map((line) => line.outcome);
    expect({ body, outcomes }).toEqual({ body: { data: { startModule: { status: 'RUNNING' } } }, outcomes: ['ok'] });
  });

  it('does not throw (failing the mutation) for a line written after the file was closed at shutdown', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    folders.push(folder);
    const audit = new AuditLog(logger, { file: join(folder, 'audit.jsonl') });
    audit.close();
    expect(() => audit.write({ principal: 'ci', operation: 'stopModule', outcome: 'ok', durationMs: 1 })).not.toThrow();
  });
});

describe('BERTH_AUDIT_FILE named by digits alone (a relative file "2026")', () => {
  it('appends to that file, and a SIGHUP reopen does not throw', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    const cwd = process.cwd();
    process.chdir(folder);
    try {
      const audit = new AuditLog(logger, { file: '2026' });
      audit.write({ principal: 'ci', operation: 'stopModule', outcome: 'ok', durationMs: 1 });
      expect(() => audit.reopen()).not.toThrow();
      audit.close();
      await expect.poll(() => readFile(join(folder, '2026'), 'utf8')).toContain('"operation":"stopModule"');
    } finally {
      process.chdir(cwd);
      await rm(folder, { recursive: true, force: true });
    }
  });
});
