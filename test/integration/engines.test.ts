import { dirname, join } from 'node:path';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/docker-yaml.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, docker, freePort, servedEnv, testImage, waitFor, type Harness } from './harness.ts';
import { startEngineProxy, type EngineProxy } from './engine-proxy.ts';
import { startSecondEngine, type SecondEngine } from './second-engine.ts';
import { subscribe, wsClient } from './subscription.ts';

interface Change {
  module: { name: string; engine: string };
  status: string;
}

// berth on the suite's engine (local) and on a second dockerd of this file's own (edge), each behind an
// allowlisting proxy: one engine going down leaves the other's queries, mutations and subscriptions whole.
describe('two engines', () => {
  let edge: SecondEngine;
  let edgeProxy: EngineProxy;
  let berth: Harness;
  let server: RunningServer;
  let client: Client;
  let port: number;

  const yaml = (edgeSocket: string) => `engines:
  edge:
    host: unix://${edgeSocket}
modules:
  web:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    envs: { SERVED: local }
    ports: { http: { in: 8080, out: PORT, host: 127.0.0.1 } }
  scraper:
    kind: job{{run}}
    image: ${testImage}
    engine: edge
    autostart: false
    envs: { SERVED: edge }
    ports: { http: { in: 8080, out: PORT, host: 127.0.0.1 } }
`;

  beforeAll(async () => {
    edge = await startSecondEngine();
    edgeProxy = await startEngineProxy(join(dirname(edge.socketPath), 'proxy.sock'), edge.socketPath);
    port = await freePort();
    berth = createHarness(yaml(edge.socketPath).replaceAll('PORT', String(port)), { connections: { edge: { socketPath: edgeProxy.socketPath } } });
    await berth.ready();
    await waitFor(() => berth.services.engines.get('edge')!.store.synced, 'the first sync of edge');
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    client = wsClient(server);
  });

  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    await berth?.cleanup();
    await edgeProxy?.close();
    await edge?.dispose();
  });

  const engines = async () => (await berth.gql('{ engines { name reachable version } }')).data?.engines;

  it('lists both engines and says where each module runs', async () => {
    const version = (await docker.version()).Version;
    expect(await engines()).toEqual([
      { name: 'local', reachable: true, version },
      { name: 'edge', reachable: true, version: (await edge.docker.version()).Version },
    ]);
    const modules = await berth.gql('{ modules { name engine status } }');
    expect(modules.data?.modules).toEqual([
      { name: 'web', engine: 'local', status: 'NOT_CREATED' },
      { name: 'scraper', engine: 'edge', status: 'NOT_CREATED' },
    ]);
  });

  it('starts each module on its own engine, on the same host port', async () => {
    const started = await berth.gql('mutation { startModules(names: ["web", "scraper"]) { name engine status containerId } }');
    expect(started.errors).toBeUndefined();
    expect(started.data?.startModules.map((module: { status: string }) => module.status)).toEqual(['RUNNING', 'RUNNING']);
    const [web, scraper] = started.data?.startModules as { containerId: string }[];
    expect((await edge.docker.getContainer(scraper!.containerId).inspect()).Config.Labels['berth.module']).toBe('scraper');
    expect((await docker.getContainer(web!.containerId).inspect()).Config.Labels['berth.module']).toBe('web');
    await expect(docker.getContainer(scraper!.containerId).inspect()).rejects.toMatchObject({ statusCode: 404 });
    // Each engine publishes 127.0.0.1:port in its own network namespace; the suite reaches the local one.
    expect(await servedEnv(port)).toContain('SERVED=local');
  });

  it('shows an outside change on either engine to a subscriber at once', async () => {
    const feed = subscribe<Change>(client, 'subscription { moduleStatusChanged { module { name engine } status } }', 'moduleStatusChanged');
    try {
      const scraper = berth.services.engines.get('edge')!.store.get('scraper')!;
      await edge.docker.getContainer(scraper.containerId!).stop({ t: 0 });
      await feed.until((change) => change.module.name === 'scraper' && change.status === 'EXITED', 'scraper EXITED from edge');
      await docker.getContainer(berth.store.get('web')!.containerId!).stop({ t: 0 });
      await feed.until((change) => change.module.name === 'web' && change.status === 'EXITED', 'web EXITED from local');
      expect(feed.received.map((change) => change.module.engine)).toContain('edge');
    } finally {
      feed.dispose();
    }
  });

  it('with edge down, serves local whole and edge as last seen, and refuses edge operations naming the engine', async () => {
    const feed = subscribe<Change>(client, 'subscription { moduleStatusChanged(names: ["web"]) { module { name engine } status } }', 'moduleStatusChanged');
    try {
      await edge.stop();
      await waitFor(async () => (await engines())?.[1]?.reachable === false, 'edge to show unreachable');
      expect((await engines())?.[0]).toMatchObject({ name: 'local', reachable: true });
      const modules = await berth.gql('{ modules { name status } }');
      expect(modules.errors).toBeUndefined();
      expect(modules.data?.modules).toEqual([
        { name: 'web', status: 'EXITED' },
        { name: 'scraper', status: 'EXITED' },
      ]);
      const started = await berth.gql('mutation { startModule(name: "web") { status } }');
      expect(started.data?.startModule.status).toBe('RUNNING');
      await feed.until((change) => change.status === 'RUNNING', 'web RUNNING over the subscription while edge is down');
      const refused = await berth.gql('mutation { startModule(name: "scraper") { status } }');
      expect(refused.errors?.[0]).toMatchObject({ message: 'engine "edge" cannot be reached', extensions: { code: 'ENGINE_UNAVAILABLE' } });
      // /ready: berth still serves, one engine answers.
      expect((await berth.app.fetch('http://berth/ready')).status).toBe(200);
    } finally {
      feed.dispose();
    }
  });

  it('picks edge up again when it comes back, and operates on it', async () => {
    await edge.start();
    await waitFor(async () => (await engines())?.[1]?.reachable === true, 'edge to show reachable again', 30_000);
    const started = await berth.gql('mutation { startModule(name: "scraper") { engine status } }');
    expect(started.data?.startModule).toEqual({ engine: 'edge', status: 'RUNNING' });
  });

  it('moves a module to the other engine on reload: its container on the old one removed, a new one made on the new', async () => {
    const before = berth.store.get('web')!.containerId!;
    const moved = yaml(edge.socketPath)
      .replace('    autostart: false\n    envs: { SERVED: local }\n    ports: { http: { in: 8080, out: PORT, host: 127.0.0.1 } }\n', '    engine: edge\n')
      .replaceAll('PORT', String(port));
    await berth.services.reconfigure(parseConfig(`project: ${berth.project}\n${moved.replaceAll('{{run}}', berth.run)}`, { file: 'docker.yaml', env: {} }));
    await waitFor(async () => (await docker.getContainer(before).inspect().catch(() => undefined)) === undefined, "web's container on local to be removed", 20_000);
    await waitFor(async () => (await berth.gql('{ module(name: "web") { engine status } }')).data?.module.status === 'RUNNING', 'web to run on edge', 20_000);
    const web = await berth.gql('{ module(name: "web") { engine containerId } }');
    expect(web.data?.module.engine).toBe('edge');
    expect((await edge.docker.getContainer(web.data?.module.containerId).inspect()).Config.Labels['berth.module']).toBe('web');
    expect((await berth.gql('{ modules { name engine } }')).data?.modules).toEqual([
      { name: 'web', engine: 'edge' },
      { name: 'scraper', engine: 'edge' },
    ]);
  });

  it('let the allowlisting proxy of edge refuse nothing berth asked', () => {
    expect(edgeProxy.refused).toEqual([]);
    expect(edgeProxy.calls.get('GET /events')).toBeGreaterThan(0);
  });
});
