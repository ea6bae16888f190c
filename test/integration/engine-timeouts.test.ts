import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerodeClient } from '../../src/engine/docker-client.ts';

// An engine that takes a request and never answers, as a frozen dockerd does; a running engine
// cannot be made to do that on cue, so this one is an HTTP server on a socket of the test's own.
describe('an engine that takes a change and never answers', () => {
  let dir: string;
  let engine: Server;
  const received: IncomingMessage[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-frozen-'));
    engine = createServer((request) => received.push(request)).listen(join(dir, 'docker.sock'));
    await once(engine, 'listening');
  });
  afterAll(async () => {
    engine.closeAllConnections();
    engine.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the change with ENGINE_UNAVAILABLE once the write timeout has passed, and drops the request', async () => {
    const docker = new DockerodeClient({ connection: { socketPath: join(dir, 'docker.sock') }, writeTimeoutMs: 300, logger: pino({ level: 'silent' }) });
    const started = Date.now();
    await expect(docker.startContainer('c0ffee')).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    // A stop waits for its own timeout as well.
    const stopping = Date.now();
    await expect(docker.stopContainer('c0ffee', 1)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(Date.now() - stopping).toBeGreaterThanOrEqual(1290);
    expect(received.map((request) => `${request.method} ${request.url?.replace(/^\/v[\d.]+/, '')}`)).toEqual(['POST /containers/c0ffee/start', 'POST /containers/c0ffee/stop?t=1']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received.every((request) => request.socket.destroyed)).toBe(true);
  });
});
