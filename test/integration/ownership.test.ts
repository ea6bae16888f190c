import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModuleDetailDocument, StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, freePort, removeProject, servedEnv, testImage, waitFor, type Harness } from './harness.ts';

describe('containers berth does not own', () => {
  let berth: Harness;
  let foreign: StartedTestContainer;
  let otherProject: StartedTestContainer;
  let unlabelled: StartedTestContainer;

  beforeAll(async () => {
    berth = createHarness(`modules:
  tts:
    kind: piper{{run}}
    image: ${testImage}
    autostart: false
  scraper:
    kind: crawl{{run}}
    image: ${testImage}
    autostart: false
`);
    await berth.ready();
    foreign = await new GenericContainer(testImage).withName(`tts_piper${berth.run}`).start();
    otherProject = await new GenericContainer(testImage)
      .withName(`scraper-elsewhere-${berth.run}`)
      .withLabels({ 'berth.managed': 'true', 'berth.project': `other-${berth.run}`, 'berth.module': 'scraper' })
      .start();
    unlabelled = await new GenericContainer(testImage).withName(`bystander-${berth.run}`).start();
  });
  afterAll(async () => {
    await Promise.all([foreign, otherProject, unlabelled].map((container) => container?.stop({ remove: true, timeout: 1 })));
    await Promise.all([berth.cleanup(), removeProject(`other-${berth.run}`)]);
  });

  it('refuses to start or stop a module whose container name another container holds, and leaves that container as it was', async () => {
    const before = await docker.getContainer(foreign.getId()).inspect();

    const started = await berth.gql(StartModuleDocument, { name: 'tts' });
    expect(started.errors?.[0]?.extensions?.code).toBe('NAME_CONFLICT');
    expect(started.errors?.[0]?.message).toContain(`tts_piper${berth.run}`);
    const stopped = await berth.gql(StopModuleDocument, { name: 'tts' });
    expect(stopped.errors?.[0]?.extensions?.code).toBe('NAME_CONFLICT');

    const after = await docker.getContainer(foreign.getId()).inspect();
    expect(after.State).toEqual(before.State);
    expect(after.Config.Labels).toEqual(before.Config.Labels);
    expect(after.Name).toBe(before.Name);
  });

  it('sees only the modules of docker.yaml and never the containers of another project or nobody', async () => {
    const result = await berth.gql('{ modules { name status containerId } }');
    expect(result.data?.modules).toEqual([
      { name: 'tts', status: 'NOT_CREATED', containerId: null },
      { name: 'scraper', status: 'NOT_CREATED', containerId: null },
    ]);

    const started = await berth.gql(StartModuleDocument, { name: 'scraper' });
    expect(started.data?.startModule.status).toBe('RUNNING');
    expect(started.data?.startModule.containerId).not.toBe(otherProject.getId());
    expect((await docker.getContainer(otherProject.getId()).inspect()).State.Running).toBe(true);
    expect((await docker.getContainer(unlabelled.getId()).inspect()).State.Running).toBe(true);
  });
});

describe('an autostart module whose container name another container holds', () => {
  const run = Math.random().toString(36).slice(2, 8);
  let berth: Harness;
  let removed: StartedTestContainer;
  let renamed: StartedTestContainer;
  afterAll(async () => {
    await Promise.all([removed, renamed].map((container) => container && docker.getContainer(container.getId()).remove({ force: true }).catch(() => {})));
    await berth?.cleanup();
  });

  it('creates and starts its own container once that container is removed or renamed', async () => {
    removed = await new GenericContainer(testImage).withName(`relay_r${run}`).start();
    renamed = await new GenericContainer(testImage).withName(`cache_c${run}`).start();
    berth = createHarness(
      `modules:
  relay: { kind: r{{run}}, image: ${testImage} }
  cache: { kind: c{{run}}, image: ${testImage} }
`,
      { run },
    );
    await berth.ready();
    const status = async (name: string) => (await berth.gql(ModuleDetailDocument, { name })).data?.module;
    // The autostart at start-up was refused (NAME_CONFLICT), and the foreign containers were left alone.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await status('relay')).toMatchObject({ status: 'NOT_CREATED', containerId: null });
    expect(await status('cache')).toMatchObject({ status: 'NOT_CREATED', containerId: null });

    await docker.getContainer(removed.getId()).remove({ force: true });
    await docker.getContainer(renamed.getId()).rename({ name: `cache-moved-${run}` });
    await waitFor(async () => (await status('relay'))?.status === 'RUNNING' && (await status('cache'))?.status === 'RUNNING', 'both modules running');
    expect((await status('relay'))?.containerId).not.toBe(removed.getId());
    expect((await status('cache'))?.containerId).not.toBe(renamed.getId());
    expect((await docker.getContainer(renamed.getId()).inspect()).State.Running).toBe(true);
  });
});

describe('container shape', () => {
  let berth: Harness;
  afterAll(() => berth?.cleanup());

  // SCTP publishing needs the kernel's sctp module, which these machines lack: its bindings are checked in the unit tests.
  it('publishes tcp and udp ports, several host ports for one container port', async () => {
    const [tcp, alt, udp] = await Promise.all([freePort(), freePort(), freePort()]);
    berth = createHarness(`modules:
  gateway:
    kind: gw{{run}}
    image: ${testImage}
    ports:
      http: { in: 8080, out: ${tcp} }
      admin: { in: 8080, out: ${alt} }
      rtp: { in: 5004, out: ${udp}, protocol: udp }
`);
    await berth.ready();
    const started = await berth.gql(StartModuleDocument, { name: 'gateway' });
    expect(started.data?.startModule.status).toBe('RUNNING');
    const { HostConfig } = await docker.getContainer(started.data?.startModule.containerId ?? '').inspect();
    expect(HostConfig.PortBindings).toEqual({
      '8080/tcp': [{ HostIp: '', HostPort: String(tcp) }, { HostIp: '', HostPort: String(alt) }],
      '5004/udp': [{ HostIp: '', HostPort: String(udp) }],
    });
    expect(await servedEnv(tcp)).toContain('HOSTNAME=');
    expect(await servedEnv(alt)).toContain('HOSTNAME=');
  });
});

describe('an engine that refuses', () => {
  let berth: Harness;
  let squatter: Server;
  afterAll(async () => {
    squatter?.close();
    await berth?.cleanup();
  });

  it('passes on the engine message as ENGINE_ERROR and leaves the created container visible as EXITED', async () => {
    const port = await freePort();
    squatter = createServer().listen(port, '0.0.0.0');
    await once(squatter, 'listening');
    berth = createHarness(`modules:
  web:
    kind: web{{run}}
    image: ${testImage}
    autostart: false
    ports: { http: { in: 8080, out: ${port} } }
`);
    await berth.ready();
    const started = await berth.gql(StartModuleDocument, { name: 'web' });
    expect(started.errors?.[0]?.extensions?.code).toBe('ENGINE_ERROR');
    expect(started.errors?.[0]?.message).toMatch(/address already in use|port is already allocated/);

    const after = await berth.gql(ModuleDetailDocument, { name: 'web' });
    expect(after.data?.module.status).toBe('EXITED');
    expect(after.data?.module.containerId).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('a docker.yaml change', () => {
  const yaml = (greeting: string, port: number) => `modules:
  web:
    kind: web{{run}}
    image: ${testImage}
    autostart: false
    envs: { GREETING: ${greeting} }
    ports: { http: { in: 8080, out: ${port} } }
`;
  let first: Harness;
  afterAll(() => first?.cleanup());

  it('keeps the container while the declaration is unchanged, and recreates a stopped one from a changed declaration', async () => {
    const port = await freePort();
    first = createHarness(yaml('first', port));
    await first.ready();
    const created = await first.gql(StartModuleDocument, { name: 'web' });
    await first.gql(StopModuleDocument, { name: 'web', timeoutSeconds: 1 });

    const restarted = createHarness(yaml('first', port), { run: first.run });
    await restarted.ready();
    const unchanged = await restarted.gql(StartModuleDocument, { name: 'web' });
    expect(unchanged.data?.startModule.containerId).toBe(created.data?.startModule.containerId);

    const changed = createHarness(yaml('second', port), { run: first.run });
    await changed.ready();
    const whileRunning = await changed.gql(StartModuleDocument, { name: 'web' });
    expect(whileRunning.data?.startModule.containerId).toBe(created.data?.startModule.containerId);

    await changed.gql(StopModuleDocument, { name: 'web', timeoutSeconds: 1 });
    const recreated = await changed.gql(StartModuleDocument, { name: 'web' });
    expect(recreated.data?.startModule.status).toBe('RUNNING');
    expect(recreated.data?.startModule.containerId).not.toBe(created.data?.startModule.containerId);
    expect(await servedEnv(port)).toContain('GREETING=second');
    await expect(docker.getContainer(created.data?.startModule.containerId ?? '').inspect()).rejects.toMatchObject({ statusCode: 404 });
  });
});
