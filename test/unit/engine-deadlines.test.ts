import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerodeClient } from '../../src/engine/docker-client.ts';

const readMs = 200;
const writeMs = 300;

// An engine that takes a request and never answers, as a frozen dockerd does: an HTTP server on a
// unix socket of the test's own. What counts is what is left open on it once the deadline has passed.
describe('an engine that takes requests and never answers', () => {
  let dir: string;
  let engine: Server;
  const received: IncomingMessage[] = [];
  let docker: DockerodeClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-frozen-'));
    engine = createServer((request) => received.push(request)).listen(join(dir, 'docker.sock'));
    await once(engine, 'listening');
    docker = new DockerodeClient({ connection: { socketPath: join(dir, 'docker.sock') }, deadlines: { readMs, writeMs }, logger: pino({ level: 'silent' }) });
  });
  beforeEach(() => {
    received.length = 0;
  });
  afterAll(async () => {
    engine.closeAllConnections();
    engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  const openConnections = () => new Promise<number>((resolve, reject) => engine.getConnections((error, count) => (error ? reject(error) : resolve(count))));
  const requests = () => received.map((request) => `${request.method} ${request.url?.replace(/^\/v[\d.]+/, '').split('?')[0]}`);

  async function expectAbortedAfter(call: () => Promise<unknown>, deadlineMs: number): Promise<void> {
    const started = Date.now();
    await expect(call()).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining(`no answer within ${deadlineMs} ms`) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(deadlineMs - 10);
    await expect.poll(openConnections, { timeout: 1_000 }).toBe(0);
    expect(received.every((request) => request.socket.destroyed)).toBe(true);
  }

  it.each([
    ['the version', 'GET /version', () => docker.system.version()],
    ['the watchdog ping', 'GET /_ping', () => docker.system.ping()],
    ['a container list', 'GET /containers/json', () => docker.containers.list({ 'berth.managed': 'true' })],
    ['a container inspect', 'GET /containers/c0ffee/json', () => docker.containers.inspect('c0ffee')],
    ['an image inspect', 'GET /images/example/app:1/json', () => docker.images.inspect('example/app:1')],
    ['an image list', 'GET /images/json', () => docker.images.list()],
    ['the event stream before its answer', 'GET /events', () => docker.events.stream(new AbortController().signal)],
    ['a log read', 'GET /containers/c0ffee/logs', () => docker.logs.read('c0ffee', { tty: false })],
    ['a log follow before its answer', 'GET /containers/c0ffee/logs', () => docker.logs.follow('c0ffee', { tty: false }, new AbortController().signal)],
  ])('aborts %s at the read deadline and leaves no request open', async (_, request, call) => {
    await expectAbortedAfter(call, readMs);
    expect(requests()).toEqual([request]);
  });

  it.each([
    ['a create', 'POST /containers/create', () => docker.containers.create({ name: 'web_http', Image: 'example/app:1' })],
    ['a start', 'POST /containers/c0ffee/start', () => docker.containers.start('c0ffee')],
    ['an unpause', 'POST /containers/c0ffee/unpause', () => docker.containers.unpause('c0ffee')],
    ['a remove', 'DELETE /containers/c0ffee', () => docker.containers.remove('c0ffee')],
  ])('aborts %s at the write deadline and leaves no request open', async (_, request, call) => {
    await expectAbortedAfter(call, writeMs);
    expect(requests()).toEqual([request]);
  });

  it('aborts a stop after the write deadline plus its own timeout', async () => {
    await expectAbortedAfter(() => docker.containers.stop('c0ffee', 1), writeMs + 1_000);
    expect(requests()).toEqual(['POST /containers/c0ffee/stop']);
  });

  it('keeps an answered event stream open past the read deadline', async () => {
    const answering = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.flushHeaders();
    }).listen(join(dir, 'answering.sock'));
    await once(answering, 'listening');
    const client = new DockerodeClient({ connection: { socketPath: join(dir, 'answering.sock') }, deadlines: { readMs }, logger: pino({ level: 'silent' }) });
    const connection = new AbortController();
    const events = (await client.events.stream(connection.signal))[Symbol.asyncIterator]();
    const next = events.next();
    await new Promise((resolve) => setTimeout(resolve, readMs * 2));
    const count = await new Promise<number>((resolve) => answering.getConnections((_error, open) => resolve(open)));
    expect(count).toBe(1);
    connection.abort();
    await expect(next).resolves.toMatchObject({ done: true });
    answering.closeAllConnections();
    answering.close();
  });
});
