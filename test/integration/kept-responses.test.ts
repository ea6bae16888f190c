import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Authenticator } from '../../src/auth/authenticator.ts';
import type { Principal } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { KeptResponses } from '../../src/graphql/plugins/kept-responses.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, docker, freePort, testImage, waitFor, type Harness } from './harness.ts';

interface Answer {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const modulesQuery = '{ modules { name status ports { name out } } }';

// A repeated query answers from the response kept for it, and never one older than what berth knows: an outside
// `docker stop` and a reload of docker.yaml show in the next answer; a viewer is never answered what only an
// operator may read.
describe('kept responses on the real engine', () => {
  let folder: string;
  let berth: Harness;
  const principals: Record<string, Principal> = { op: { name: 'ops', role: 'operator' }, view: { name: 'screen', role: 'viewer' } };
  const auth: Authenticator = { enabled: true, authenticate: (token) => (token ? principals[token] : undefined), isCurrent: () => true, onChange: () => () => {}, close: () => {} };
  let secured: ReturnType<typeof createBerthApp>;
  let port: number;
  let otherPort: number;
  let server: RunningServer;
  /** Requests that reached the app behind listen's kept answers. */
  let reachedApp = 0;

  const ask = async (query: string, variables?: Record<string, unknown>, token?: string): Promise<Answer> => {
    const app = token ? secured : berth.app;
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) };
    const response = await app.fetch('http://berth/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    return (await response.json()) as Answer;
  };
  /** The same over HTTP, through listen: what its kept answers serve before the app. */
  const post = async (query: string, { token = 'op', headers = {} }: { token?: string; headers?: Record<string, string> } = {}) => {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify({ query }) });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };
  const statusIn = (answer: Answer, name: string) => (answer.data?.modules as { name: string; status: string }[]).find((module) => module.name === name)?.status;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-kept-'));
    [port, otherPort] = [await freePort(), await freePort()];
    const module = (name: string, ports = '') => `  ${name}:\n    kind: kept{{run}}\n    image: ${testImage}\n${ports}`;
    berth = createHarness(`modules:\n${module('web', `    ports: { http: { in: 8080, out: ${port} } }\n`)}${module('api')}`, { file: join(folder, 'docker.yaml'), reloadable: true });
    const kept = new KeptResponses({ version: () => berth.modules.version, config: () => berth.reloader.state });
    secured = createBerthApp({ modules: berth.modules, config: berth.reloader, logger: pino({ level: 'silent' }), auth, kept, maxBodyBytes: 2000 });
    const counted = new Proxy(secured, { apply: (target, self, args) => (reachedApp++, Reflect.apply(target, self, args)) });
    server = await listen(counted, { host: '127.0.0.1', port: 0, auth, kept, limits: { bodyBytes: 2000 } });
    await berth.ready();
    await waitFor(() => ['web', 'api'].every((name) => berth.store.get(name)?.status === 'RUNNING'), 'both modules running', 30_000);
  }, 60_000);

  afterAll(async () => {
    await server?.close();
    await berth?.cleanup();
    await rm(folder, { recursive: true, force: true });
  });

  it('answers a repeated query without reading the modules again', async () => {
    const list = vi.spyOn(berth.modules, 'list');
    try {
      const first = await ask(modulesQuery);
      const calls = list.mock.calls.length;
      expect(await ask(modulesQuery)).toEqual(first);
      expect(list.mock.calls.length).toBe(calls);
    } finally {
      list.mockRestore();
    }
  });

  it('shows an outside docker stop in the next answer', async () => {
    expect(statusIn(await ask(modulesQuery), 'web')).toBe('RUNNING');
    expect(statusIn(await ask(modulesQuery), 'web')).toBe('RUNNING');
    await docker.getContainer(berth.store.get('web')!.containerId!).stop({ t: 0 });
    await waitFor(() => berth.store.get('web')?.status === 'EXITED', 'the stop seen', 30_000);
    expect(statusIn(await ask(modulesQuery), 'web')).toBe('EXITED');
  });

  it('keeps one answer per variables', async () => {
    const query = 'query ($name: String!) { module(name: $name) { name } }';
    for (let round = 0; round < 2; round++) {
      expect((await ask(query, { name: 'web' })).data).toEqual({ module: { name: 'web' } });
      expect((await ask(query, { name: 'api' })).data).toEqual({ module: { name: 'api' } });
    }
  });

  it('never answers a viewer from what an operator was answered', async () => {
    for (let round = 0; round < 2; round++) {
      expect((await ask('{ principal { name role } }', undefined, 'op')).data).toEqual({ principal: { name: 'ops', role: 'OPERATOR' } });
      expect((await ask('{ modules { name logs(tail: 1) { text } } }', undefined, 'op')).errors).toBeUndefined();
    }
    expect((await ask('{ principal { name role } }', undefined, 'view')).data).toEqual({ principal: { name: 'screen', role: 'VIEWER' } });
    const refused = await ask('{ modules { name logs(tail: 1) { text } } }', undefined, 'view');
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('answers the new docker.yaml once a reload has put it in force', async () => {
    const ports = () => ask('{ modules { name ports { out } } }');
    const before = await ports();
    expect(await ports()).toEqual(before);
    const file = join(folder, 'docker.yaml');
    const digest = berth.reloader.state.digest;
    await writeFile(file, (await readFile(file, 'utf8')).replace(`out: ${port}`, `out: ${otherPort}`));
    await waitFor(() => berth.reloader.state.digest !== digest, 'the reload', 30_000);
    expect(((await ports()).data?.modules as { name: string; ports: { out: number }[] }[])[0]?.ports).toEqual([{ out: otherPort }]);
  });

  describe('over HTTP, answered before the app', () => {
    it('answers a repeated query with the same bytes, without the app, in the media type asked for, with its request id', async () => {
      const first = await post(modulesQuery);
      const before = reachedApp;
      const again = await post(modulesQuery, { headers: { 'x-request-id': 'kept-1' } });
      expect(reachedApp).toBe(before);
      expect(again.text).toBe(first.text);
      expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(again.headers.get('x-request-id')).toBe('kept-1');
      const typed = await post(modulesQuery, { headers: { accept: 'application/graphql-response+json' } });
      expect(typed.headers.get('content-type')).toBe('application/graphql-response+json; charset=utf-8');
      expect(typed.text).toBe(first.text);
    });

    it('refuses what the app refuses: no token, a viewer asking for logs, a body over the limit', async () => {
      await post(modulesQuery);
      await post(modulesQuery);
      expect((await post(modulesQuery, { token: 'nobody' })).status).toBe(401);
      for (let round = 0; round < 2; round++) expect(JSON.parse((await post('{ modules { name logs(tail: 1) { text } } }')).text).errors).toBeUndefined();
      expect(JSON.parse((await post('{ modules { name logs(tail: 1) { text } } }', { token: 'view' })).text).errors[0].extensions.code).toBe('FORBIDDEN');
      const padded = (spaces: number) => `${modulesQuery}${' '.repeat(spaces)}`;
      for (let round = 0; round < 2; round++) expect((await post(padded(1500))).status).toBe(200);
      expect((await post(padded(3000))).status).toBe(413);
    });

    it('shows an outside docker stop in the next answer', async () => {
      const status = async () => statusIn(JSON.parse((await post(modulesQuery)).text) as Answer, 'api');
      expect(await status()).toBe('RUNNING');
      expect(await status()).toBe('RUNNING');
      await docker.getContainer(berth.store.get('api')!.containerId!).stop({ t: 0 });
      await waitFor(() => berth.store.get('api')?.status === 'EXITED', 'the stop seen', 30_000);
      expect(await status()).toBe('EXITED');
    });
  });
});
