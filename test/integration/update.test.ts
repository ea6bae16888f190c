import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { healthcheckImage } from '../fixtures/images.ts';
import { ApplyModuleDocument, ModuleUpdatesDocument, StartModuleDocument, type ModuleUpdatesSubscription } from '../generated/operations.ts';
import { createHarness, docker, freePort, servedEnv, testImage, waitFor, type Harness } from './harness.ts';
import { subscribe, wsClient } from './subscription.ts';

const run = promisify(execFile);
const tag = (image: string, reference: string) => run('docker', ['tag', image, reference]);

type Module = ModuleUpdatesSubscription['moduleChanged'];

/** The audit lines a berth writes. */
function auditSink() {
  const lines: { audit?: { principal: string | null; operation: string; modules?: string[]; outcome: string; details?: Record<string, unknown> } }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  return { audits: () => lines.flatMap((line) => (line.audit ? [line.audit] : [])), logger: pino({ level: 'info' }, sink) };
}

// applyModule on the engine: each berth is started on a changed docker.yaml over the containers an earlier one
// made (reload is another part's), and applies the drift it sees.
describe('applyModule on the engine', () => {
  let port: number;
  let first: Harness;
  const harnesses: Harness[] = [];
  const servers: RunningServer[] = [];
  const clients: Client[] = [];

  /** web on a published host port, its GREETING and healthcheck as given. */
  const berth = (greeting: string, healthcheck: string, options: Parameters<typeof createHarness>[1] = {}) => {
    const harness = createHarness(
      `modules:
  web:
    kind: web{{run}}
    image: ${testImage}
    autostart: false
    envs: { GREETING: ${greeting} }
    ports:
      http: { in: 8080, out: ${port}, host: 127.0.0.1 }
${healthcheck}`,
      { run: first?.run, ...options },
    );
    harnesses.push(harness);
    return harness;
  };

  const follow = async (harness: Harness) => {
    const server = await listen(harness.app, { host: '127.0.0.1', port: 0 });
    servers.push(server);
    const client = wsClient(server);
    clients.push(client);
    return subscribe<Module>(client, print(ModuleUpdatesDocument), 'moduleChanged', { names: ['web'], initial: true });
  };

  beforeAll(async () => {
    port = await freePort();
    first = berth('one', '');
    await first.ready();
    expect((await first.gql(StartModuleDocument, { name: 'web' })).errors).toBeUndefined();
    expect(await servedEnv(port)).toContain('GREETING=one');
  });
  afterAll(async () => {
    for (const client of clients) void client.dispose();
    await Promise.all(servers.map((server) => server.close()));
    for (const harness of harnesses.reverse()) await harness.cleanup();
  });

  const container = (harness: Harness) => harness.store.get('web')!.containerId!;
  const exists = async (id: string) => docker.getContainer(id).inspect().then(() => true, () => false);

  it('keeps a healthy update: the old container is gone and the new one serves on the same host port', async () => {
    const old = container(first);
    const second = berth('two', '    healthcheck: { test: "test -f /tmp/www/env.txt", interval: 1s, retries: 3 }');
    await second.ready();
    expect((await second.gql(`{ module(name: "web") { drift } }`)).data?.module.drift).toEqual(['envs.GREETING', 'healthcheck']);
    const applied = await second.gql(ApplyModuleDocument, { name: 'web', timeoutSeconds: 1 });
    expect(applied.errors).toBeUndefined();
    expect(applied.data?.applyModule).toMatchObject({ status: 'RUNNING', health: 'HEALTHY', drift: [] });
    expect(applied.data?.applyModule.containerId).not.toBe(old);
    expect(await exists(old)).toBe(false);
    expect(await servedEnv(port)).toContain('GREETING=two');
  });

  it('answers a module without drift untouched', async () => {
    const second = harnesses[1]!;
    const before = container(second);
    const applied = await second.gql(ApplyModuleDocument, { name: 'web' });
    expect(applied.data?.applyModule).toMatchObject({ containerId: before, status: 'RUNNING', drift: [] });
  });

  it('rolls an unhealthy update back: the old container runs again under its name, the subscriber sees the whole story', async () => {
    const { audits, logger } = auditSink();
    const third = berth('three', '    healthcheck: { test: "echo sick-of-it; exit 1", interval: 1s, retries: 1 }', { logger });
    await third.ready();
    const old = container(third);
    const { Name: name } = await docker.getContainer(old).inspect();
    const feed = await follow(third);
    await feed.until((module) => module.status === 'RUNNING', 'the initial snapshot');

    const applied = await third.gql(ApplyModuleDocument, { name: 'web', timeoutSeconds: 1 });
    expect(applied.errors?.[0]?.extensions?.code).toBe('UPDATE_ROLLED_BACK');
    expect(applied.errors?.[0]?.message).toMatch(/unhealthy.*sick-of-it/);

    const restored = await docker.getContainer(old).inspect();
    expect(restored.Name).toBe(name);
    expect(restored.State.Running).toBe(true);
    expect(await servedEnv(port)).toContain('GREETING=two');
    const last = await feed.until((module) => module.status === 'RUNNING' && module.containerId === old, 'the old container running again', 1);
    const story = feed.received.slice(0, feed.received.indexOf(last) + 1);
    expect(story.map((module) => module.status).filter((status, index, all) => status !== all[index - 1])).toEqual(['RUNNING', 'HANDLING', 'RUNNING']);
    expect(story.some((module) => module.status === 'HANDLING' && module.containerId !== old)).toBe(true);
    expect(last.drift).toEqual(['envs.GREETING', 'healthcheck']);
    await waitFor(() => audits().some((entry) => entry.operation === 'applyModule'), 'the audit line');
    expect(audits()).toEqual([
      expect.objectContaining({
        principal: 'anonymous',
        role: 'operator',
        operation: 'applyModule',
        modules: ['web'],
        outcome: 'UPDATE_ROLLED_BACK',
        requestId: expect.any(String),
        details: { timeoutSeconds: 1, message: expect.stringMatching(/sick-of-it/) },
      }),
    ]);
  });

  it('undoes an update a stopped berth left unfinished, at its next start', async () => {
    const old = container(harnesses[1]!);
    const { Name: name } = await docker.getContainer(old).inspect();
    // As a berth that stopped between the rename and the new container's health: the old one aside, stopped.
    await docker.getContainer(old).rename({ name: `${name.slice(1)}-berth-previous` });
    await docker.getContainer(old).stop({ t: 1 }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 304) throw error;
    });
    const next = berth('two', '    healthcheck: { test: "test -f /tmp/www/env.txt", interval: 1s, retries: 3 }');
    await next.ready();
    await waitFor(async () => {
      const { Name, State } = await docker.getContainer(old).inspect();
      return Name === name && State.Running;
    }, 'the old container restored and running');
    expect(await servedEnv(port)).toContain('GREETING=two');
  });
});

describe('update: auto on the engine', () => {
  const reference = `berth-test/update-${Math.random().toString(36).slice(2, 8)}:1`;
  let berth: Harness;

  beforeAll(async () => {
    await tag(testImage, reference);
    berth = createHarness(`modules:
  follower:
    kind: follower{{run}}
    image: ${reference}
    update: auto
`);
    await berth.ready();
    await waitFor(() => berth.store.get('follower')!.status === 'RUNNING', 'the autostart');
  });
  afterAll(async () => {
    await berth?.cleanup();
    await docker.getImage(reference).remove().catch(() => undefined);
  });

  it('is updated when its tag is re-pointed to a new image (docker tag)', async () => {
    const old = berth.store.get('follower')!.containerId!;
    const { Id: newImage } = await docker.getImage(healthcheckImage).inspect();
    await tag(healthcheckImage, reference);
    await waitFor(() => {
      const module = berth.store.get('follower')!;
      return module.status === 'RUNNING' && module.containerId !== old && module.drift.length === 0;
      // Well before the periodic resync (60 s), which would apply it too: the move itself must.
    }, 'the new container running', 30_000);
    const { Image } = await docker.getContainer(berth.store.get('follower')!.containerId!).inspect();
    expect(Image).toBe(newImage);
    expect(berth.store.get('follower')!.health).toBe('HEALTHY');
  });
});
