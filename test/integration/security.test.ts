import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { createBerthApp } from '../../src/graphql/app.ts';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { engineEndpoints } from '../../src/engine/engine-endpoints.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { FrontendModulesDocument, StartModuleDocument } from '../generated/operations.ts';
import { callsPath, probeHeader } from './engine-proxy.ts';
import { createHarness, freePort, servedEnv, testImage, waitFor, type Harness } from './harness.ts';

const operator = newToken('ci', 'operator');
const viewer = newToken('grafana', 'viewer');
const frontendQuery = print(FrontendModulesDocument);

describe('with a tokens file', () => {
  let berth: Harness;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  let tokensFile: string;

  /** POSTs to the real server with an optional bearer token. */
  async function post(query: string, token?: string, variables?: Record<string, unknown>) {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] } };
  }

  /** The code a graphql-ws connection is closed with, or 'open' once acknowledged and subscribed. */
  async function wsOutcome(connectionParams: Record<string, unknown> | undefined) {
    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams });
    try {
      return await new Promise<number | string>((resolve) => {
        client.on('closed', (event) => resolve((event as { code: number }).code));
        client.subscribe(
          { query: 'subscription { moduleStatusChanged(initial: true) { status } }' },
          { next: () => resolve('open'), error: () => {}, complete: () => {} },
        );
      });
    } finally {
      await client.dispose();
    }
  }

  beforeAll(async () => {
    tokensFile = join(await mkdtemp(join(tmpdir(), 'berth-tokens-')), 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n${viewer.line}\n`);
    berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n`);
    await berth.ready();
    auth = await TokenFileAuthenticator.open(tokensFile, pino({ level: 'silent' }));
    const app = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth });
    server = await listen(app, { host: '127.0.0.1', port: 0, auth });
  });
  afterAll(async () => {
    auth?.close();
    await server?.close();
    await berth?.cleanup();
  });

  it('tells each token who it is: its name and role (principal), a viewer too', async () => {
    for (const [token, principal] of [[viewer.token, { name: 'grafana', role: 'VIEWER' }], [operator.token, { name: 'ci', role: 'OPERATOR' }]] as const) {
      const { status, body } = await post('{ principal { name role } }', token);
      expect([status, body]).toEqual([200, { data: { principal } }]);
    }
  });

  it('answers a request without a token, or with a wrong one, 401 UNAUTHENTICATED before anything runs', async () => {
    for (const token of [undefined, 'berth_guess', `${operator.token}x`]) {
      const { status, headers, body } = await post(frontendQuery, token);
      expect(status).toBe(401);
      expect(headers.get('www-authenticate')).toBe('Bearer realm="berth"');
      expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
      expect(body.data).toBeUndefined();
    }
  });

  it('lets a viewer query but not mutate (FORBIDDEN), and an operator do both on the real engine', async () => {
    expect((await post(frontendQuery, viewer.token)).body.data).toEqual({ modules: [{ name: 'web', status: 'NOT_CREATED', ports: [] }] });
    const refused = await post(print(StartModuleDocument), viewer.token, { name: 'web' });
    expect(refused.status).toBe(403);
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await post(frontendQuery, viewer.token)).body.data).toEqual({ modules: [{ name: 'web', status: 'NOT_CREATED', ports: [] }] });
    const started = await post(print(StartModuleDocument), operator.token, { name: 'web' });
    expect(started.body.data).toMatchObject({ startModule: { name: 'web', status: 'RUNNING' } });
  });

  it('keeps /health, /ready and the GraphiQL page open', async () => {
    expect((await fetch(server.url.replace('/graphql', '/health'))).status).toBe(200);
    expect((await fetch(server.url.replace('/graphql', '/ready'))).status).toBe(200);
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('GraphiQL');
  });

  it('closes a graphql-ws connection without a valid token with 4403, and serves one with it', async () => {
    expect(await wsOutcome(undefined)).toBe(4403);
    expect(await wsOutcome({ authorization: 'Bearer berth_guess' })).toBe(4403);
    expect(await wsOutcome({ authorization: `Bearer ${viewer.token}` })).toBe('open');
    expect(await wsOutcome({ authorization: viewer.token })).toBe('open');
  });

  it('refuses a mutation over graphql-ws to a viewer', async () => {
    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: viewer.token } });
    const result = await client.iterate({ query: print(StartModuleDocument), variables: { name: 'web' } }).next();
    await client.dispose();
    expect((result.value as { errors?: { extensions?: { code?: string } }[] }).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('authenticates whatever path yoga would take for the endpoint, and fails closed', async () => {
    const base = server.url.replace('/graphql', '');
    for (const path of ['/graphql/', '//graphql', '/x/graphql', '/?query=%7B%20modules%20%7B%20name%20%7D%20%7D&_=/graphql']) {
      const response = await fetch(`${base}${path}`, {
        method: path.startsWith('/?') ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json', 'x-graphql-yoga-csrf': '1', accept: 'application/json, text/event-stream' },
        ...(path.startsWith('/?') ? {} : { body: JSON.stringify({ query: frontendQuery }) }),
      });
      // `/` is the dashboard's page, which holds no data: it answers the page, never the query.
      if (path.startsWith('/?')) expect([response.status, response.headers.get('content-type'), (await response.text()).includes('"data"')], path).toEqual([200, 'text/html; charset=utf-8', false]);
      else expect(response.status, path).toBe(401);
    }
  });

  it('gives GraphiQL no exemption once it is switched off', async () => {
    const closed = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth, graphiql: false });
    const response = await closed.fetch(`http://127.0.0.1/graphql?query=${encodeURIComponent('{ modules { name } }')}`, { headers: { accept: 'text/html, application/json', 'x-graphql-yoga-csrf': '1' } });
    expect(response.status).toBe(401);
  });

  it('lets no page of another site in: no CORS grant, no cross-origin WebSocket', async () => {
    const preflight = await fetch(server.url, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, authorization' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const socket = new WebSocket(server.url.replace('http', 'ws'), 'graphql-transport-ws', { origin: 'http://evil.example' });
    const [, refused] = (await once(socket, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(refused.statusCode).toBe(401);
    const sameSite = new WebSocket(server.url.replace('http', 'ws'), 'graphql-transport-ws', { origin: server.url.replace('/graphql', '') });
    await once(sameSite, 'open');
    sameSite.close();
  });

  it('ends open subscriptions, over graphql-ws and SSE, when their token is removed from the file', async () => {
    const revoked = newToken('revoked', 'operator');
    await writeFile(tokensFile, `tokens:\n${viewer.line}\n${revoked.line}\n`);
    await waitFor(async () => (await post(frontendQuery, revoked.token)).status === 200, 'the new token');
    const subscription = 'subscription { moduleStatusChanged(initial: true) { status } }';

    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, onNonLazyError: () => {}, connectionParams: { authorization: revoked.token } });
    let closedWith: number | undefined;
    client.on('closed', (event) => (closedWith = (event as { code: number }).code));
    let wsEvents = 0;
    client.subscribe({ query: subscription }, { next: () => wsEvents++, error: () => {}, complete: () => {} });

    const sse = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${revoked.token}` },
      body: JSON.stringify({ query: subscription }),
    });
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('moduleStatusChanged');
    await waitFor(() => wsEvents > 0, 'the graphql-ws snapshot');

    // The monitor sends nothing more: the removal alone must end both streams.
    await writeFile(tokensFile, `tokens:\n${viewer.line}\n`);
    await waitFor(() => closedWith === 4403, 'the socket to be closed with 4403');
    let ended = false;
    while (!ended) ended = (await reader.read()).done;
    expect(ended).toBe(true);
    await client.dispose();
  });

  it('re-reads the tokens file when it changes, and keeps the tokens it had when the new file is invalid', async () => {
    const added = newToken('deploy', 'operator');
    // An atomic replace, as editors and secret mounts do.
    await writeFile(`${tokensFile}.new`, `tokens:\n${viewer.line}\n${added.line}\n`);
    await rename(`${tokensFile}.new`, tokensFile);
    await waitFor(async () => (await post(frontendQuery, added.token)).status === 200, 'the added token to be accepted');
    expect((await post(frontendQuery, operator.token)).status).toBe(401);

    await writeFile(tokensFile, 'tokens:\n  - { name: broken, role: admin }\n');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await post(frontendQuery, added.token)).status).toBe(200);
  });
});

describe('limits', () => {
  let berth: Harness;
  let server: RunningServer;

  beforeAll(async () => {
    berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n`);
    await berth.ready();
    const app = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), introspection: false, graphiql: false, maxBodyBytes: 20_000 });
    server = await listen(app, { host: '127.0.0.1', port: 0, limits: { subscriptionsPerConnection: 2 } });
  });
  afterAll(async () => {
    await server?.close();
    await berth?.cleanup();
  });

  const post = async (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const response = await fetch(server.url, { method: 'POST', headers, body });
    return { status: response.status, text: await response.text() };
  };

  it('refuses too deep, too many aliases, too many tokens, and too large a body', async () => {
    const deep = `{ modules { ${'ports { '.repeat(11)}name${' }'.repeat(11)} } }`;
    expect((await post(JSON.stringify({ query: deep }))).text).toMatch(/depth/i);
    const aliases = `{ ${Array.from({ length: 16 }, (_, index) => `a${index}: engine { reachable }`).join(' ')} }`;
    expect((await post(JSON.stringify({ query: aliases }))).text).toMatch(/aliases/i);
    const tokens = `{ modules { ${'name '.repeat(1000)}} }`;
    expect((await post(JSON.stringify({ query: tokens }))).text).toMatch(/token/i);
    expect((await post(JSON.stringify({ query: `{ modules { name } } # ${'x'.repeat(30_000)}` }))).status).toBe(413);
  });

  it('switches off introspection and GraphiQL', async () => {
    expect((await post(JSON.stringify({ query: '{ __schema { types { name } } }' }))).text).toMatch(/introspection/i);
    const page = await fetch(server.url, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('GraphiQL');
  });

  it('answers, with authentication off on loopback, only requests addressed to localhost (no DNS rebinding)', async () => {
    const guarded = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), loopbackHostOnly: true }), { host: '127.0.0.1', port: 0, loopbackHostOnly: true });
    try {
      const port = new URL(guarded.url).port;
      const statusFor = (host: string) =>
        new Promise<number>((resolve, reject) => {
          const body = JSON.stringify({ query: '{ modules { name } }' });
          const call = httpRequest({ host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers: { host, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (answer) => {
            answer.resume();
            resolve(answer.statusCode ?? 0);
          });
          call.on('error', reject);
          call.end(body);
        });
      expect(await statusFor(`localhost:${port}`)).toBe(200);
      expect(await statusFor(`127.0.0.1:${port}`)).toBe(200);
      expect(await statusFor(`rebound.example:${port}`)).toBe(403);
    } finally {
      await guarded.close();
    }
  });

  it('refuses a simple request another site could make (CSRF)', async () => {
    const form = await post('query=%7B%20modules%20%7B%20name%20%7D%20%7D', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(403);
    expect((await fetch(`${server.url}?query=${encodeURIComponent('{ modules { name } }')}`)).status).toBe(403);
    const marked = await fetch(`${server.url}?query=${encodeURIComponent('{ modules { name } }')}`, { headers: { 'x-graphql-yoga-csrf': '1' } });
    expect(marked.status).toBe(200);
  });

  it('refuses a subscription past the limit on one connection, and no other', async () => {
    const socket = new WebSocket(server.url.replace('http', 'ws'), 'graphql-transport-ws');
    await once(socket, 'open');
    const messages: { id?: string; type: string; payload?: unknown }[] = [];
    socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as { type: string }));
    socket.send(JSON.stringify({ type: 'connection_init' }));
    await waitFor(() => messages.some((message) => message.type === 'connection_ack'), 'the ack');
    for (const id of ['1', '2', '3']) socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { moduleStatusChanged { status } }' } }));
    await waitFor(() => messages.some((message) => message.id === '3'), 'an answer to the third subscription');
    expect(messages.find((message) => message.id === '3')).toMatchObject({ type: 'error', payload: [{ extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } }] });
    expect(messages.filter((message) => message.id === '1' || message.id === '2')).toEqual([]);
    socket.close();
  });
});

describe('secrets', () => {
  it('gives a ${VAR} env value to the container and to nothing else: not the API, not the logs', async () => {
    const secret = `s3cret-${Math.random().toString(36).slice(2)}`;
    const port = await freePort();
    const logs: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => logs.push(line) });
    const berth = createHarness(
      `modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n    envs:\n      API_KEY: \${TEST_API_KEY}\n    ports:\n      http: { in: 8080, out: ${port} }\n`,
      { env: { TEST_API_KEY: secret }, logger },
    );
    try {
      await berth.ready();
      const everything = '{ modules { name kind containerName image autostart status stopped containerId startedAt exitCode ports { name in out protocol } } engine { reachable version apiVersion } _service { sdl } }';
      expect((await berth.gql(StartModuleDocument, { name: 'web' })).data?.startModule.status).toBe('RUNNING');
      expect(await servedEnv(port)).toContain(`API_KEY=${secret}`);
      expect(JSON.stringify(await berth.gql(everything))).not.toContain(secret);
      expect(logs.length).toBeGreaterThan(5);
      expect(logs.join('')).not.toContain(secret);
    } finally {
      await berth.cleanup();
    }
  });
});

describe('least privilege', () => {
  /** A raw call through the test's socket proxy; marked as a probe, so that its refusal is expected. */
  const throughProxy = (method: string, path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const call = httpRequest({ socketPath: inject('engineProxySocket'), method, path, headers: { [probeHeader]: '1' } }, (answer) => {
        let body = '';
        answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body }));
      });
      call.on('error', reject);
      call.end();
    });

  it('reaches the engine only through the allowlist of src/engine/engine-endpoints.ts', async () => {
    // Everything berth does in this suite goes through the proxy; what is not listed is refused.
    expect(await throughProxy('GET', '/v1.41/volumes')).toMatchObject({ status: 403 });
    expect((await throughProxy('POST', '/containers/anything/exec')).body).toContain("not in berth's engine endpoint allowlist");
    expect((await throughProxy('GET', '/version')).status).toBe(200);
    const { calls } = JSON.parse((await throughProxy('GET', callsPath)).body) as { calls: Record<string, number> };
    expect(Object.keys(calls)).toEqual(expect.arrayContaining(['GET /events', 'GET /images/json', 'POST /containers/create', 'POST /containers/{id}/start']));
    expect(Object.keys(calls).every((call) => engineEndpoints.some((endpoint) => `${endpoint.method} ${endpoint.path}` === call))).toBe(true);
  });
});
