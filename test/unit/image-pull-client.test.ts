import { PassThrough } from 'node:stream';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { redactor } from '../../src/engine/engine-error.ts';
import { EngineRequests } from '../../src/engine/engine-requests.ts';
import { DockerImagePullClient, registryAuthHeader, type PullFrame } from '../../src/engine/image-pull-client.ts';
import { pullParameters, splitRegistry } from '../../src/engine/image-reference.ts';

interface Dialled {
  path: string;
  method: string;
  options: Record<string, string>;
  authconfig?: { key: string };
}

/** A pull client whose engine answers `status` and then the given lines, each written as its own chunk. */
function clientAnswering(status: number, chunks: string[], secrets: string[] = []) {
  const dialled: Dialled[] = [];
  const docker = new Dockerode({ socketPath: '/nowhere.sock' });
  (docker.modem as unknown as { dial: unknown }).dial = (options: Dialled, callback: (error: unknown, data: unknown) => void) => {
    dialled.push({ ...options, options: { ...options.options } });
    const answer = Object.assign(new PassThrough(), { statusCode: status });
    callback(null, answer);
    for (const chunk of chunks) answer.write(chunk);
    answer.end();
  };
  const requests = new EngineRequests(docker, pino({ level: 'silent' }), {}, redactor(secrets));
  return { client: new DockerImagePullClient(requests), dialled };
}

async function frames(stream: AsyncIterable<PullFrame>): Promise<PullFrame[]> {
  const all: PullFrame[] = [];
  for await (const frame of stream) all.push(frame);
  return all;
}

const line = (value: object) => `${JSON.stringify(value)}\n`;

describe('DockerImagePullClient', () => {
  it('asks POST /images/create with the repository and tag, and reads the progress lines, split across chunks', async () => {
    const downloading = line({ status: 'Downloading', progressDetail: { current: 36445, total: 3001129 }, progress: '[>   ]', id: '51e8fa52508b' });
    const { client, dialled } = clientAnswering(200, [
      line({ status: 'Pulling from berth-test/app', id: '1' }),
      line({ status: 'Already exists', progressDetail: {}, id: '8d65a4f41621' }),
      downloading.slice(0, 30),
      downloading.slice(30),
      `${line({ status: 'Digest: sha256:11b6' })}${line({ status: 'Status: Downloaded newer image for 127.0.0.1:5000/berth-test/app:1' })}`,
    ]);
    const pulled = await frames(await client.pull('127.0.0.1:5000/berth-test/app:1', undefined, new AbortController().signal));
    expect(dialled).toEqual([expect.objectContaining({ path: '/images/create?', method: 'POST', options: { fromImage: '127.0.0.1:5000/berth-test/app', tag: '1' }, authconfig: undefined })]);
    expect(pulled).toEqual([
      { status: 'Pulling from berth-test/app' },
      { layer: '8d65a4f41621', status: 'Already exists' },
      { layer: '51e8fa52508b', status: 'Downloading', current: 36445, total: 3001129 },
      { status: 'Digest: sha256:11b6' },
      { status: 'Status: Downloaded newer image for 127.0.0.1:5000/berth-test/app:1' },
    ]);
  });

  it('sends X-Registry-Auth as base64url JSON with its = padding', async () => {
    const auth = { username: 'puller', password: 'pa55?>', serverAddress: '127.0.0.1:5000' };
    const header = registryAuthHeader(auth);
    expect(header).toMatch(/^[A-Za-z0-9_-]+=*$/);
    expect(header.length % 4).toBe(0);
    expect(header.endsWith('=')).toBe(true);
    expect(JSON.parse(Buffer.from(header, 'base64url').toString())).toEqual({ username: 'puller', password: 'pa55?>', serveraddress: '127.0.0.1:5000' });
    const { client, dialled } = clientAnswering(200, []);
    await frames(await client.pull('127.0.0.1:5000/app', auth, new AbortController().signal));
    expect(dialled[0]!.authconfig).toEqual({ key: header });
  });

  it("fails PULL_FAILED with the engine's message when it refuses the pull before the stream", async () => {
    const { client } = clientAnswering(404, [line({ message: 'manifest for 127.0.0.1:5000/app:nope not found: manifest unknown: manifest unknown' })]);
    await expect(client.pull('127.0.0.1:5000/app:nope', undefined, new AbortController().signal)).rejects.toMatchObject({
      code: 'PULL_FAILED',
      message: 'pulling "127.0.0.1:5000/app:nope" failed: manifest for 127.0.0.1:5000/app:nope not found: manifest unknown: manifest unknown',
    });
  });

  it('fails PULL_FAILED on an error line in the stream, with secrets scrubbed from the message', async () => {
    const { client } = clientAnswering(200, [line({ status: 'Pulling fs layer', progressDetail: {}, id: 'aa' }), line({ errorDetail: { message: 'blob rejected for hunter2-secret' }, error: 'blob rejected for hunter2-secret' })], ['hunter2-secret']);
    const stream = await client.pull('app:1', undefined, new AbortController().signal);
    const seen: PullFrame[] = [];
    await expect(
      (async () => {
        for await (const frame of stream) seen.push(frame);
      })(),
    ).rejects.toMatchObject({ code: 'PULL_FAILED', message: 'pulling "app:1" failed: blob rejected for [secret]' });
    expect(seen).toEqual([{ layer: 'aa', status: 'Pulling fs layer' }]);
  });
});

describe('image references for pulls', () => {
  it('splits the tag or digest off as the docker CLI sends them', () => {
    expect(pullParameters('127.0.0.1:5000/a/b:1.2')).toEqual({ fromImage: '127.0.0.1:5000/a/b', tag: '1.2' });
    expect(pullParameters('localhost:5000/app')).toEqual({ fromImage: 'localhost:5000/app', tag: 'latest' });
    expect(pullParameters('redis@sha256:abc')).toEqual({ fromImage: 'redis', tag: 'sha256:abc' });
  });

  it('names the registry as docker.yaml keys it: lowercase, Docker Hub as docker.io', () => {
    expect(splitRegistry('Registry.Example.com:5000/a/b:1')).toEqual({ registry: 'registry.example.com:5000', path: 'a/b:1' });
    expect(splitRegistry('library/redis')).toEqual({ registry: 'docker.io', path: 'library/redis' });
    expect(splitRegistry('index.docker.io/library/redis')).toEqual({ registry: 'docker.io', path: 'library/redis' });
    expect(splitRegistry('localhost/app')).toEqual({ registry: 'localhost', path: 'app' });
  });
});
