import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';

// Named volumes, bind mounts and the project's networks, each proven by what the container sees.
describe('volumes and networks on the engine', () => {
  let berth: Harness;
  let folder: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-binds-'));
    await mkdir(join(folder, 'conf'));
    await mkdir(join(folder, 'gone'));
    await writeFile(join(folder, 'conf', 'greeting'), 'hi\n');
    berth = createHarness(
      `volumes:
  data: {}
networks:
  backend: {}
modules:
  counter:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    volumes: ["data:/data"]
    command: ["sh", "-c", "echo run >> /data/runs; exit $(wc -l < /data/runs)"]
  reader:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    volumes: ["./conf:/conf:ro"]
    command: ["sh", "-c", "test \\"$(cat /conf/greeting)\\" = hi || exit 10; touch /conf/written 2>/dev/null && exit 11; exit 0"]
  missing:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    volumes: ["./not-there:/models:ro"]
  later:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    volumes: ["./gone:/gone"]
    command: ["true"]
  server:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    envs: { GREETING: over-the-network }
    networks: [backend]
  client:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", "printf 'GET /env.txt HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc server 8080 | grep -q GREETING=over-the-network"]
`,
      { file: join(folder, 'docker.yaml') },
    );
    await berth.ready();
  });
  afterAll(async () => {
    await berth?.cleanup();
    await rm(folder, { recursive: true, force: true });
  });

  const exitOf = async (module: string) => {
    const { errors } = await berth.gql(StartModuleDocument, { name: module });
    expect(errors).toBeUndefined();
    await waitFor(() => berth.store.get(module)!.status === 'EXITED', `${module} to exit`);
    return berth.store.get(module)!.exitCode;
  };
  const inspect = async (module: string) => docker.getContainer(berth.store.get(module)!.containerId!).inspect();

  it('keeps what a container wrote to a named volume when the container is made again', async () => {
    expect(await exitOf('counter')).toBe(1);
    const first = berth.store.get('counter')!.containerId!;
    await docker.getContainer(first).remove();
    await waitFor(() => berth.store.get('counter')!.status === 'NOT_CREATED', 'the removal to be seen');
    expect(await exitOf('counter')).toBe(2);
    expect(berth.store.get('counter')!.containerId).not.toBe(first);
    const volume = await docker.getVolume(`${berth.project}_data`).inspect();
    expect(volume.Labels).toMatchObject({ 'berth.managed': 'true', 'berth.project': berth.project });
  });

  it('mounts a bind source relative to docker.yaml, read-only where :ro says so', async () => {
    expect(await exitOf('reader')).toBe(0);
    expect(existsSync(join(folder, 'conf', 'written'))).toBe(false);
    const { Mounts } = await inspect('reader');
    expect(Mounts).toEqual([expect.objectContaining({ Type: 'bind', Source: join(folder, 'conf'), Destination: '/conf', RW: false })]);
  });

  it('refuses to start with a bind source that does not exist, naming module, entry and path, and makes no folder', async () => {
    const { errors } = await berth.gql(StartModuleDocument, { name: 'missing' });
    const path = join(folder, 'not-there');
    expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'BIND_SOURCE_MISSING' } })]);
    expect(errors![0]!.message).toContain('module "missing", volume "./not-there:/models:ro"');
    expect(errors![0]!.message).toContain(path);
    expect(existsSync(path)).toBe(false);
    expect(berth.store.get('missing')!.status).toBe('NOT_CREATED');
  });

  it('lets modules reach each other by name over <project>_default, and joins the extra networks with the name as alias', async () => {
    expect((await berth.gql(StartModuleDocument, { name: 'server' })).errors).toBeUndefined();
    expect(await exitOf('client')).toBe(0);
    const { NetworkSettings } = await inspect('server');
    expect(NetworkSettings.Networks[`${berth.project}_default`]?.Aliases).toContain('server');
    expect(NetworkSettings.Networks[`${berth.project}_backend`]?.Aliases).toContain('server');
    const network = await docker.getNetwork(`${berth.project}_backend`).inspect();
    expect(network.Labels).toMatchObject({ 'berth.managed': 'true', 'berth.project': berth.project });
  });

  it('refuses the start of a container whose bind source went after it was made, with the same error', async () => {
    expect(await exitOf('later')).toBe(0);
    await rm(join(folder, 'gone'), { recursive: true });
    const { errors } = await berth.gql(StartModuleDocument, { name: 'later' });
    expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'BIND_SOURCE_MISSING' } })]);
    expect(existsSync(join(folder, 'gone'))).toBe(false);
  });

  it('makes the project network and the container again when the network was removed while the module was stopped', async () => {
    expect(await exitOf('client')).toBe(0);
    const before = berth.store.get('client')!.containerId;
    await docker.getContainer(berth.store.get('server')!.containerId!).stop({ t: 0 });
    // As `docker network prune` does: stopped containers do not hold a network.
    await docker.getNetwork(`${berth.project}_default`).remove();
    expect((await berth.gql(StartModuleDocument, { name: 'server' })).errors).toBeUndefined();
    expect(await exitOf('client')).toBe(0);
    expect(berth.store.get('client')!.containerId).not.toBe(before);
  });
});
