// Swarm modules through berth, end to end: berth drives the manager of a real two-node swarm (swarm-cluster.ts) as
// an engine of docker.yaml, behind the allowlisting proxy, and a graphql-ws subscriber sees the service's tasks move.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/docker-yaml.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { startEngineProxy, type EngineProxy } from './engine-proxy.ts';
import { startSwarmCluster, type SwarmCluster } from './swarm-cluster.ts';
import { subscribe, wsClient } from './subscription.ts';

interface Replicas {
  desired: number;
  running: number;
}

interface SwarmModule {
  name: string;
  status: string;
  replicas: Replicas | null;
}

const moduleFields = 'name status replicas { desired running }';

describe('Swarm modules through berth', () => {
  let cluster: SwarmCluster;
  let proxy: EngineProxy;
  let proxyDir: string;
  let berth: Harness;
  let server: RunningServer;
  let client: Client;

  const yaml = (web = `image: ${testImage}\n    envs: { ROLE: replica }\n    deploy: { replicas: 2 }`) => `engines:
  swarm:
    host: unix:///nowhere/the-test-connects-through-its-proxy.sock
modules:
  web:
    kind: http{{run}}
    engine: swarm
    autostart: false
    ${web}
  taken:
    kind: http{{run}}
    image: ${testImage}
    engine: swarm
    autostart: false
    deploy: { replicas: 1 }
  solo:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    deploy: { replicas: 1 }
`;

  beforeAll(async () => {
    cluster = await startSwarmCluster();
    proxyDir = await mkdtemp('/tmp/berth-swm-');
    proxy = await startEngineProxy(join(proxyDir, 'engine.sock'), cluster.managerSocket);
    berth = createHarness(yaml(), { connections: { swarm: { socketPath: proxy.socketPath } } });
    await berth.ready();
    await waitFor(() => berth.services.engines.get('swarm')!.store.synced, 'the first sync of the swarm engine');
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    client = wsClient(server);
  }, 180_000);

  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    await berth?.cleanup();
    await proxy?.close();
    if (proxyDir) await rm(proxyDir, { recursive: true, force: true });
    await cluster?.dispose();
  }, 180_000);

  const module = async (name: string) => (await berth.gql<{ module: SwarmModule }>(`query($name: String!) { module(name: $name) { ${moduleFields} } }`, { name })).data?.module;
  const serviceOf = (name: string) => `${name}_http${berth.run}`;
  const runningNodes = async (name: string) => {
    const tasks = await cluster.manager.listTasks({ filters: { service: [serviceOf(name)], 'desired-state': ['running'] } });
    return (tasks as { NodeID: string; Status: { State: string } }[]).filter((task) => task.Status.State === 'running').map((task) => task.NodeID).sort();
  };

  it('shows a Swarm module as not created, with replicas { 0, 0 }, and a container module with none', async () => {
    expect(await module('web')).toEqual({ name: 'web', status: 'NOT_CREATED', replicas: { desired: 0, running: 0 } });
    expect((await berth.gql('{ module(name: "web") { logs { text } } }')).errors?.[0]).toMatchObject({
      message: expect.stringContaining('module "web" runs as a Swarm service (deploy:), and berth does not read its log yet'),
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('refuses to start a deploy: module on an engine that is not a Swarm manager, naming it and what to do', async () => {
    const answer = await berth.gql(`mutation { startModule(name: "solo") { ${moduleFields} } }`);
    expect(answer.errors?.[0]?.extensions?.code).toBe('ENGINE_ERROR');
    expect(answer.errors?.[0]?.message).toMatch(/module "solo" has deploy: .* is not a Swarm manager; run `docker swarm init`/);
    expect((await module('solo'))?.status).toBe('NOT_CREATED');
  });

  it('leaves a service of the module\'s name that berth does not own alone: NAME_CONFLICT', async () => {
    const foreign = await cluster.manager.createService({ Name: serviceOf('taken'), TaskTemplate: { ContainerSpec: { Image: testImage } }, Mode: { Replicated: { Replicas: 0 } } });
    try {
      const answer = await berth.gql(`mutation { startModule(name: "taken") { ${moduleFields} } }`);
      expect(answer.errors?.[0]?.extensions?.code).toBe('NAME_CONFLICT');
      expect((await cluster.manager.getService(foreign.id).inspect()).Spec.Mode.Replicated.Replicas).toBe(0);
    } finally {
      await cluster.manager.getService(foreign.id).remove();
    }
  });

  it('starts replicas over both nodes, and a subscriber sees a worker going and the tasks coming back on the manager', async () => {
    const started = await berth.gql<{ startModule: SwarmModule }>(`mutation { startModule(name: "web") { ${moduleFields} } }`);
    expect(started.errors).toBeUndefined();
    expect(started.data?.startModule).toEqual({ name: 'web', status: 'RUNNING', replicas: { desired: 2, running: 2 } });
    expect(await runningNodes('web')).toEqual([cluster.managerNodeId, cluster.workerNodeId].sort());
    // The project's network on a manager is an overlay one, which services can join and containers too.
    const [network] = await cluster.manager.listNetworks({ filters: { name: [`${berth.project}_default`] } });
    expect(network).toMatchObject({ Driver: 'overlay', Attachable: true, Labels: { 'berth.project': berth.project } });
    const { Spec: webSpec } = await cluster.manager.getService(serviceOf('web')).inspect();
    expect(webSpec.TaskTemplate.Networks).toEqual([{ Target: network!.Id, Aliases: ['web'] }]);

    const changed = subscribe<SwarmModule>(client, `subscription { moduleChanged(names: ["web"]) { ${moduleFields} } }`, 'moduleChanged');
    const statuses = subscribe<{ status: string; previous: string }>(client, 'subscription { moduleStatusChanged(names: ["web"]) { status previous } }', 'moduleStatusChanged');
    try {
      await cluster.stopWorker();
      const drop = await changed.until(({ status, replicas }) => status === 'HANDLING' && replicas?.running === 1, 'web HANDLING with one replica running', 0);
      expect(drop.replicas).toEqual({ desired: 2, running: 1 });
      await waitFor(() => changed.received.some(({ status, replicas }) => status === 'RUNNING' && replicas?.running === 2), 'web RUNNING { 2, 2 } again', 60_000);
      expect(await runningNodes('web')).toEqual([cluster.managerNodeId, cluster.managerNodeId]);
      expect(statuses.received.map(({ previous, status }) => `${previous}>${status}`)).toEqual(['RUNNING>HANDLING', 'HANDLING>RUNNING']);
      // Each delivery is a change: no two in a row are the same.
      const seen = changed.received.map((delivery) => JSON.stringify(delivery));
      expect(seen.filter((delivery, index) => delivery === seen[index - 1])).toEqual([]);
    } finally {
      changed.dispose();
      statuses.dispose();
      await cluster.startWorker();
    }
  }, 180_000);

  it('shows an outside `docker service scale`, then stopModule scales to 0: EXITED { 0, 0 }', async () => {
    const changed = subscribe<SwarmModule>(client, `subscription { moduleChanged(names: ["web"]) { ${moduleFields} } }`, 'moduleChanged');
    try {
      const service = cluster.manager.getService(serviceOf('web'));
      const { Spec: spec, Version: version } = await service.inspect();
      await service.update({ ...spec, version: version.Index, Mode: { Replicated: { Replicas: 1 } } });
      await waitFor(() => changed.received.some(({ status, replicas }) => status === 'RUNNING' && replicas?.desired === 1 && replicas.running === 1), 'web RUNNING { 1, 1 }', 30_000);
    } finally {
      changed.dispose();
    }
    const stopped = await berth.gql<{ stopModule: SwarmModule }>(`mutation { stopModule(name: "web", timeoutSeconds: 2) { ${moduleFields} } }`);
    expect(stopped.errors).toBeUndefined();
    expect(stopped.data?.stopModule).toEqual({ name: 'web', status: 'EXITED', replicas: { desired: 0, running: 0 } });
    const grace = (await cluster.manager.getService(serviceOf('web')).inspect()).Spec.TaskTemplate.ContainerSpec.StopGracePeriod;
    expect(grace).toBe(2e9);
    expect(proxy.refused).toEqual([]);
  }, 120_000);

  /** docker.yaml with web's keys after `engine: swarm` replaced: a reload, as berth makes on a changed file. */
  const reload = (web: string) => berth.services.reconfigure(parseConfig(`project: ${berth.project}\n${yaml(web).replaceAll('{{run}}', berth.run)}`, { file: 'docker.yaml', env: {} }));
  const serviceSpec = async () => (await cluster.manager.getService(serviceOf('web')).inspect()).Spec as { TaskTemplate: { ContainerSpec: { Image: string; Env?: string[] } } };
  const taskIds = async () => (await cluster.manager.listTasks({ filters: { service: [serviceOf('web')], 'desired-state': ['running'] } })).map((task: { ID: string }) => task.ID).sort();

  it('restarts a stopped module as a start, and a running one by a redeploy of every task', async () => {
    const started = await berth.gql<{ restartModule: SwarmModule }>(`mutation { restartModule(name: "web", timeoutSeconds: 1) { ${moduleFields} } }`);
    expect(started.data?.restartModule).toEqual({ name: 'web', status: 'RUNNING', replicas: { desired: 2, running: 2 } });
    const before = await taskIds();
    const restarted = await berth.gql<{ restartModule: SwarmModule }>(`mutation { restartModule(name: "web", timeoutSeconds: 1) { ${moduleFields} } }`);
    expect(restarted.data?.restartModule).toEqual({ name: 'web', status: 'RUNNING', replicas: { desired: 2, running: 2 } });
    const after = await taskIds();
    expect(after).toHaveLength(2);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
  }, 120_000);

  it("applies a changed docker.yaml through Swarm's rolling update, and answers a rollback by Swarm as UPDATE_ROLLED_BACK", async () => {
    await reload(`image: ${testImage}\n    envs: { ROLE: updated }\n    deploy: { replicas: 2, update: { monitor: 2s } }`);
    expect((await berth.gql(`{ module(name: "web") { drift } }`)).data?.module.drift).toEqual(['deploy', 'envs.ROLE']);
    const applied = await berth.gql<{ applyModule: SwarmModule & { drift: string[] } }>(`mutation { applyModule(name: "web", timeoutSeconds: 1) { ${moduleFields} drift } }`);
    expect(applied.errors).toBeUndefined();
    expect(applied.data?.applyModule).toEqual({ name: 'web', status: 'RUNNING', replicas: { desired: 2, running: 2 }, drift: [] });
    expect((await serviceSpec()).TaskTemplate.ContainerSpec.Env).toEqual(['ROLE=updated']);

    // An image no node has: the new tasks are rejected, and Swarm rolls the update back by itself.
    await reload(`image: berth-test/absent:1.0\n    envs: { ROLE: updated }\n    deploy: { replicas: 2, update: { monitor: 2s } }`);
    expect((await berth.gql(`{ module(name: "web") { drift } }`)).data?.module.drift).toEqual(['image']);
    const failed = await berth.gql(`mutation { applyModule(name: "web", timeoutSeconds: 1) { ${moduleFields} } }`);
    expect(failed.errors?.[0]?.extensions?.code).toBe('UPDATE_ROLLED_BACK');
    expect(failed.errors?.[0]?.message).toMatch(/module "web" was rolled back by Swarm: /);
    expect((await serviceSpec()).TaskTemplate.ContainerSpec.Image).toBe(testImage);
    await waitFor(async () => (await module('web'))?.status === 'RUNNING', 'web RUNNING on the old image', 30_000);
    expect(proxy.refused).toEqual([]);
  }, 180_000);

  it("removes a module's service once a reload removed the module", async () => {
    await berth.services.reconfigure(parseConfig(`project: ${berth.project}\n${yaml().replaceAll('{{run}}', berth.run).replace(/ {2}web:\n( {4}.*\n)+/, '')}`, { file: 'docker.yaml', env: {} }));
    const gone = () => cluster.manager.getService(serviceOf('web')).inspect().then(() => false, (error: { statusCode?: number }) => error.statusCode === 404);
    await waitFor(gone, "web's service removed", 30_000);
    expect(proxy.refused).toEqual([]);
  }, 60_000);
});
