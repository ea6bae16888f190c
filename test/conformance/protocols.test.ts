// Other people's test suites and protocols against the real server: graphql-http's audits of
// GraphQL over HTTP, and graphql-ws's close codes.
import { once } from 'node:events';
import { serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, testImage, type Harness } from '../integration/harness.ts';

let berth: Harness;
let server: RunningServer;
let resolveUrl: (url: string) => void;
// The audits are listed before the server exists, so they read its address from a promise.
const url = new Promise<string>((resolve) => (resolveUrl = resolve));

beforeAll(async () => {
  berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n`);
  await berth.ready();
  server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
  resolveUrl(server.url);
});
afterAll(async () => {
  await server?.close();
  await berth?.cleanup();
});

describe('GraphQL over HTTP (graphql-http audits)', () => {
  for (const audit of serverAudits({ url: () => url, fetchFn: fetch })) {
    // A failed MUST is an error, a failed SHOULD a warning, a failed MAY a notice. berth passes every
    // MUST and SHOULD. The MAYs it declines are GETs without a CSRF-safe header: a browser sends
    // those from any site, so useCSRFPrevention refuses them (403). The README lists them.
    it(audit.name, async () => {
      const result = await audit.fn();
      const declined = audit.name.startsWith('MAY') && audit.name.includes('GET');
      if (declined && result.status === 'notice') expect(result.response.status).toBe(403);
      else expect(result.status, result.status === 'ok' ? audit.id : `${audit.id}: ${result.reason}`).toBe('ok');
    });
  }
});

describe('graphql-ws close codes', () => {
  const wsUrl = async () => (await url).replace('http', 'ws');

  /** A raw socket; resolves with the code and reason the server closed it with. */
  async function closedWith(protocol: string | undefined, messages: (socket: WebSocket) => Promise<void> | void) {
    const socket = new WebSocket(await wsUrl(), protocol);
    await once(socket, 'open');
    const closed = once(socket, 'close') as Promise<[number, Buffer]>;
    await messages(socket);
    const [code, reason] = await closed;
    return { code, reason: reason.toString() };
  }
  const send = (socket: WebSocket, message: unknown) => socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  async function acknowledged(socket: WebSocket) {
    const ack = once(socket, 'message');
    send(socket, { type: 'connection_init' });
    const [data] = (await ack) as [Buffer];
    expect(JSON.parse(data.toString())).toEqual({ type: 'connection_ack' });
  }
  const subscription = (id: string) => ({ id, type: 'subscribe', payload: { query: 'subscription { moduleStatusChanged { status } }' } });

  it('4406 when the client does not speak graphql-transport-ws', async () => {
    expect((await closedWith(undefined, () => {})).code).toBe(4406);
  });

  it('4400 on a message that is not valid JSON or not a known message', async () => {
    expect((await closedWith('graphql-transport-ws', (socket) => send(socket, '{nope'))).code).toBe(4400);
    expect((await closedWith('graphql-transport-ws', (socket) => send(socket, { type: 'bogus' }))).code).toBe(4400);
  });

  it('4401 on a subscribe before the connection is acknowledged', async () => {
    expect((await closedWith('graphql-transport-ws', (socket) => send(socket, subscription('1')))).code).toBe(4401);
  });

  it('4408 when connection_init does not come in time', async () => {
    expect((await closedWith('graphql-transport-ws', () => {})).code).toBe(4408);
  });

  it('4409 on a second subscribe with an id still in use', async () => {
    const closed = await closedWith('graphql-transport-ws', async (socket) => {
      await acknowledged(socket);
      send(socket, subscription('same'));
      send(socket, subscription('same'));
    });
    expect(closed.code).toBe(4409);
  });

  it('4429 on a second connection_init', async () => {
    const closed = await closedWith('graphql-transport-ws', async (socket) => {
      await acknowledged(socket);
      send(socket, { type: 'connection_init' });
    });
    expect(closed.code).toBe(4429);
  });
});
