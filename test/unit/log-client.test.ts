import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DockerodeClient } from '../../src/engine/docker-client.ts';
import { readTextLength } from '../../src/engine/log-client.ts';

/** One frame of a log without a TTY. */
function frame(stream: 1 | 2, payload: string): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([header, Buffer.from(payload)]);
}

// The log client against an engine of the test's own (an HTTP server on a unix socket): what it asks, and
// what it leaves open.
describe('the log client', () => {
  let dir: string;
  let engine: Server;
  let docker: DockerodeClient;
  const asked: URL[] = [];
  let answer: (request: IncomingMessage, response: ServerResponse) => void;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-logs-engine-'));
    engine = createServer((request, response) => {
      asked.push(new URL(request.url!, 'http://engine'));
      answer(request, response);
    }).listen(join(dir, 'docker.sock'));
    await once(engine, 'listening');
    docker = new DockerodeClient({ connection: { socketPath: join(dir, 'docker.sock') }, logger: pino({ level: 'silent' }) });
  });
  beforeEach(() => {
    asked.length = 0;
  });
  afterAll(async () => {
    engine.closeAllConnections();
    engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  const openConnections = () => new Promise<number>((resolve, reject) => engine.getConnections((error, count) => (error ? reject(error) : resolve(count))));

  it('reads both streams with the engine timestamps, the tail and a moment to the nanosecond', async () => {
    answer = (_request, response) => response.end(Buffer.concat([frame(1, '2026-01-02T03:04:05.000000001Z out\n'), frame(2, '2026-01-02T03:04:05.000000002Z err\n')]));
    const { lines, leftOut } = await docker.logs.read('c0ffee', { tty: false, tail: 2, since: 1_767_323_045_000_000_005n });
    expect(leftOut).toBe(0);
    expect(lines.map((line) => [line.stream, line.text])).toEqual([
      ['stdout', 'out'],
      ['stderr', 'err'],
    ]);
    const [query] = asked;
    expect(query!.pathname).toMatch(/\/containers\/c0ffee\/logs$/);
    expect(Object.fromEntries(query!.searchParams)).toEqual({ stdout: 'true', stderr: 'true', timestamps: 'true', follow: 'false', tail: '2', since: '1767323045.000000005' });
  });

  it('answers no lines for a container that is gone', async () => {
    answer = (_request, response) => response.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"No such container: c0ffee"}');
    expect(await docker.logs.read('c0ffee', { tty: false })).toEqual({ lines: [], leftOut: 0 });
  });

  it('keeps the last lines whose text fits in readTextLength, and counts the older ones it left out', async () => {
    // The engine's tail counts its messages: 600 lines of 16,000 characters are 9.6 million.
    const line = (index: number) => `${String(index).padStart(5, '0')}${'a'.repeat(15_995)}`;
    answer = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
      for (let index = 0; index < 600; index++) response.write(frame(1, `2026-01-02T03:04:05.000000001Z ${line(index)}\n`));
      response.end();
    };
    const { lines, leftOut } = await docker.logs.read('c0ffee', { tty: false, tail: 600 });
    const kept = Math.floor(readTextLength / 16_000);
    expect([lines.length, leftOut]).toEqual([kept, 600 - kept]);
    expect([lines[0]!.text, lines.at(-1)!.text]).toEqual([line(600 - kept), line(599)]);
  });

  it('gives up a read whose body stops coming at the read deadline, and leaves no connection open', async () => {
    answer = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
      response.write(frame(1, '2026-01-02T03:04:05.000000001Z the engine froze after this\n'));
    };
    const readMs = 200;
    const hurried = new DockerodeClient({ connection: { socketPath: join(dir, 'docker.sock') }, deadlines: { readMs }, logger: pino({ level: 'silent' }) });
    await expect(hurried.logs.read('c0ffee', { tty: false })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining(`no answer within ${readMs} ms`) });
    await expect.poll(openConnections).toBe(0);
  });

  it('follows a log as the engine sends it, and closes the connection when the signal aborts', async () => {
    let write: (bytes: Buffer) => void = () => {};
    answer = (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/vnd.docker.raw-stream' });
      response.flushHeaders();
      write = (bytes) => response.write(bytes);
    };
    const stop = new AbortController();
    const batches = (await docker.logs.follow('c0ffee', { tty: true }, stop.signal))[Symbol.asyncIterator]();
    expect(Object.fromEntries(asked[0]!.searchParams)).toMatchObject({ follow: 'true', timestamps: 'true' });
    write(Buffer.from('2026-01-02T03:04:05.000000001Z a tty line\r\n'));
    expect((await batches.next()).value?.map((line: { text: string }) => line.text)).toEqual(['a tty line']);
    const waiting = batches.next();
    stop.abort();
    await expect(waiting).rejects.toThrow();
    await expect.poll(openConnections).toBe(0);
  });
});
