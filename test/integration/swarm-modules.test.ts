// Swarm modules through berth, end to end: berth drives the manager of a real two-node swarm (swarm-cluster.ts) as
// an engine of docker.yaml, behind the allowlisting proxy, and a graphql-ws subscriber sees the service's tasks move.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  const yaml = `engines:
  swarm:
    host: unix:///nowhere/the-test-connects-through-its-proxy.sock
modules:
  web:
    kind: http{{run}}
    image: ${testImage}
    engine: swarm
    autostart: false
    envs: { ROLE: replica }
    deploy: { replicas: 2 }
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
    berth = createHarness(yaml, { connections: { swarm: { socketPath: proxy.socketPath } } });
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
});
