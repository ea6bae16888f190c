import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { healthcheckImage } from '../fixtures/images.ts';
import { ModuleDriftDocument, ModuleUpdatesDocument, StartModuleDocument, type ModuleUpdatesSubscription } from '../generated/operations.ts';
import { createHarness, docker, freePort, testImage, type Harness } from './harness.ts';
import { subscribe, wsClient } from './subscription.ts';

const run = promisify(execFile);
const tag = (image: string, reference: string) => run('docker', ['tag', image, reference]);

type Module = ModuleUpdatesSubscription['moduleChanged'];

// Drift as a berth started on a changed docker.yaml sees the containers an earlier berth made (reload is
// another part's), and live over moduleChanged when the image a reference names moves.
describe('Module.drift on the engine', () => {
  const suffix = Math.random().toString(36).slice(2, 8);
  const reference = (version: string) => `berth-test/drift-${suffix}:${version}`;
  let before: Harness;
  let after: Harness;
  let server: RunningServer;
  let client: Client;

  const module = (yaml: string) => `  web:
    kind: web{{run}}
    autostart: false
${yaml}
  steady:
    kind: steady{{run}}
    image: ${testImage}
    autostart: false
    envs: { GREETING: hello }
  idle:
    kind: idle{{run}}
    image: ${testImage}
    autostart: false
`;

  beforeAll(async () => {
    await Promise.all([tag(testImage, reference('a')), tag(testImage, reference('b'))]);
    const [firstPort, secondPort] = [await freePort(), await freePort()];
    before = createHarness(`modules:
${module(`    image: ${reference('a')}
    envs: { GREETING: hello, KEEP: same }
    ports:
      http: { in: 8080, out: ${firstPort}, host: 127.0.0.1 }`)}`);
    await before.ready();
    for (const name of ['web', 'steady']) expect((await before.gql(StartModuleDocument, { name })).errors).toBeUndefined();
    after = createHarness(
      `volumes:
  data: {}
networks:
  backend: {}
modules:
${module(`    image: ${reference('b')}
    envs: { GREETING: bonjour, KEEP: same, ADDED: "1" }
    ports:
      http: { in: 8080, out: ${secondPort}, host: 127.0.0.1 }
    volumes: ["data:/data"]
    command: ["sh", "/serve.sh"]
    entrypoint: ["/bin/sh", "-c"]
    user: "0"
    workdir: /tmp
    restart: on-failure:1
    resources: { memory: 64m }
    healthcheck: { test: "true", interval: 1s }
    networks: [backend]`)}`,
      { run: before.run },
    );
    await after.ready();
    server = await listen(before.app, { host: '127.0.0.1', port: 0 });
    client = wsClient(server);
  });
  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    await after?.cleanup();
    await before?.cleanup();
    await Promise.all(['a', 'b'].map((version) => docker.getImage(reference(version)).remove().catch(() => undefined)));
  });

  const drift = async (berth: Harness, name: string) => (await berth.gql(ModuleDriftDocument, { name })).data?.module.drift;

  it('is empty for containers made from the docker.yaml in force, and for a module without a container', async () => {
    expect(await drift(before, 'web')).toEqual([]);
    expect(await drift(before, 'steady')).toEqual([]);
    expect(await drift(after, 'idle')).toEqual([]);
  });

  it('names each field docker.yaml changed, env names only', async () => {
    expect(await drift(after, 'web')).toEqual([
      'command',
      'entrypoint',
      'envs.ADDED',
      'envs.GREETING',
      'healthcheck',
      'image',
      'networks',
      'ports.http',
      'resources',
      'restart',
      'user',
      'volumes',
      'workdir',
    ]);
    expect(await drift(after, 'steady')).toEqual([]);
  });

  it('keeps env values out of the container labels', async () => {
    const { Config } = await docker.getContainer(before.store.get('web')!.containerId!).inspect();
    expect(JSON.stringify(Config.Labels)).not.toMatch(/hello|same/);
  });

  it('shows imageId live over moduleChanged when the reference is re-pointed to another image, and empty again when it returns', async () => {
    const feed = subscribe<Module>(client, print(ModuleUpdatesDocument), 'moduleChanged', { names: ['web'], initial: true });
    try {
      await feed.until((module) => module.drift.length === 0, 'the initial snapshot');
      await tag(healthcheckImage, reference('a'));
      const moved = await feed.until((module) => module.drift.includes('imageId'), 'drift to show imageId');
      expect(moved.drift).toEqual(['imageId']);
      expect(moved.status).toBe('RUNNING');
      await tag(testImage, reference('a'));
      await feed.until((module) => module.drift.length === 0, 'drift to clear', feed.received.indexOf(moved) + 1);
    } finally {
      feed.dispose();
    }
  });
});
