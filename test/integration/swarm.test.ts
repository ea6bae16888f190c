// Swarm modules on a real two-node swarm (swarm-cluster.ts), through berth's engine room directly (berth's module
// room does not drive Swarm yet): a module's service made by service-spec.ts, read back through DockerServiceClient
// behind the allowlisting proxy, its status mapped by service-status.ts while a node goes down.
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/docker-yaml.ts';
import { DockerodeClient } from '../../src/engine/docker-client.ts';
import type { ServiceClient } from '../../src/engine/service-client.ts';
import { ownershipLabels } from '../../src/modules/container-spec.ts';
import { isSwarmModule, serviceSpec, type SwarmModuleSpec } from '../../src/modules/service-spec.ts';
import { serviceStatus, type ServiceStatus } from '../../src/modules/service-status.ts';
import { testImage } from '../fixtures/images.ts';
import { startEngineProxy, type EngineProxy } from './engine-proxy.ts';
import { startSwarmCluster, type SwarmCluster } from './swarm-cluster.ts';

const project = 'swarmtest';

function swarmModule(name: string, deploy: string): SwarmModuleSpec {
  const text = `project: ${project}\nmodules:\n  ${name}:\n    kind: http\n    image: ${testImage}\n    envs: { ROLE: replica }\n    deploy: ${deploy}\n`;
  const [module] = parseConfig(text, { file: 'docker.yaml', env: {} }).modules;
  if (!module || !isSwarmModule(module)) throw new Error('expected a Swarm module');
  return module;
}

/** What berth would show of the service now: its status from the service, its tasks and the nodes. */
interface Observation extends ServiceStatus {
  at: number;
  /** How long the three reads took. */
  readMs: number;
  /** The nodes of the tasks that run. */
  runningOn: string[];
  workerState: string | undefined;
  update: string | undefined;
}

describe('a Swarm module on a two-node swarm', () => {
  let cluster: SwarmCluster;
  let proxy: EngineProxy;
  let proxyDir: string;
  let services: ServiceClient;
  let client: DockerodeClient;

  beforeAll(async () => {
    cluster = await startSwarmCluster();
    proxyDir = await mkdtemp('/tmp/berth-swp-');
    proxy = await startEngineProxy(join(proxyDir, 'engine.sock'), cluster.managerSocket);
    client = new DockerodeClient({ connection: { socketPath: proxy.socketPath }, logger: pino({ level: 'silent' }) });
    services = client.services;
  }, 180_000);

  afterAll(async () => {
    await proxy?.close();
    if (proxyDir) await rm(proxyDir, { recursive: true, force: true });
    await cluster?.dispose();
  }, 180_000);

  async function observe(id: string): Promise<Observation> {
    const started = Date.now();
    const [service, tasks, nodes] = await Promise.all([services.inspect(id), services.tasks({ service: id }), services.nodes()]);
    if (!service) throw new Error(`service ${id} is gone`);
    const down = new Set(nodes.filter((node) => node.state !== 'ready').map((node) => node.id));
    const runningOn = tasks.filter((task) => task.state === 'running' && task.nodeId && !down.has(task.nodeId)).map((task) => task.nodeId!);
    const workerState = nodes.find((node) => node.id === cluster.workerNodeId)?.state;
    return { ...serviceStatus(service, tasks, nodes), at: Date.now(), readMs: Date.now() - started, runningOn: runningOn.sort(), workerState, update: service.update?.state };
  }

  /** Observes every 50 ms until `done` holds, and answers every observation made. */
  async function watch(id: string, done: (seen: Observation) => boolean, timeoutMs = 60_000): Promise<Observation[]> {
    const seen: Observation[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const now = await observe(id);
      seen.push(now);
      if (done(now)) return seen;
      if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms; last seen ${JSON.stringify(now)}\n${cluster.logs()}`);
      await sleep(50);
    }
  }

  /**
   * Makes the worker go (`stop`), observes until both replicas run on the manager, and reports how long each step
   * took from the moment the worker went, and how long the reads took.
   */
  async function lose(id: string, stop: () => Promise<void>): Promise<{ moved: Observation[]; report: string }> {
    const before = await observe(id);
    const lost = Date.now();
    // Watched while it goes: a dockerd takes seconds to stop, and the manager may mark it down before it has exited.
    const [, after] = await Promise.all([
      stop(),
      watch(id, (seen) => seen.status === 'RUNNING' && seen.runningOn.length === 2 && seen.runningOn.every((node) => node === cluster.managerNodeId)),
    ]);
    const moved = [before, ...after];
    const since = (test: (seen: Observation) => boolean) => `${(after.find(test)?.at ?? Number.NaN) - lost} ms`;
    const reads = after.map(({ readMs }) => readMs).sort((a, b) => a - b);
    const report =
      `marked down after ${since(({ workerState }) => workerState === 'down')}, HANDLING after ${since(({ status }) => status === 'HANDLING')}, ` +
      `both replicas on the manager after ${since((seen) => seen === moved.at(-1))}; one observation (service, tasks, nodes) ` +
      `took ${reads[Math.floor(reads.length / 2)]} ms (median), ${reads.at(-1)} ms (most) over ${reads.length}`;
    return { moved, report };
  }

  it('tells a Swarm manager engine from a worker (GET /info)', async () => {
    expect(await client.system.swarm()).toEqual({ nodeId: cluster.managerNodeId, manager: true });
    const worker = new DockerodeClient({ connection: { socketPath: cluster.workerSocket }, logger: pino({ level: 'silent' }) });
    expect(await worker.system.swarm()).toEqual({ nodeId: cluster.workerNodeId, manager: false });
  });

  it('spreads the replicas over both nodes, reschedules on the manager when the worker stops, then removes the service', async () => {
    const module = swarmModule('web', '{ replicas: 2 }');
    const id = await services.create(serviceSpec(project, module));
    const [listed] = await services.list(ownershipLabels(project));
    expect(listed).toMatchObject({ id, name: 'web_http', replicas: 2, labels: { 'berth.module': 'web' } });

    const spread = await watch(id, (seen) => seen.status === 'RUNNING');
    expect(spread.at(-1)).toMatchObject({ replicas: { desired: 2, running: 2 }, runningOn: [cluster.managerNodeId, cluster.workerNodeId].sort() });
    expect(await services.tasks({ labels: ownershipLabels(project), desiredStates: ['running'] })).toHaveLength(2);

    const { moved, report } = await lose(id, () => cluster.stopWorker());
    console.info(`swarm, the worker's dockerd stopped (SIGTERM): ${report}`);
    // The drop shows, then the recovery: RUNNING → HANDLING (one replica short) → RUNNING.
    const statuses = moved.map(({ status }) => status).filter((status, index, all) => status !== all[index - 1]);
    expect(statuses).toEqual(['RUNNING', 'HANDLING', 'RUNNING']);
    expect(moved.some(({ status, replicas }) => status === 'HANDLING' && replicas.running === 1)).toBe(true);

    await cluster.startWorker();
    expect(await services.remove(id)).toBe(true);
    expect(await services.inspect(id)).toBeUndefined();
    expect(await services.remove(id)).toBe(false);
    expect(proxy.refused).toEqual([]);
  }, 180_000);

  it('reschedules the tasks of a worker cut off the network, which the manager marks down by its missed heartbeats', async () => {
    const id = await services.create(serviceSpec(project, swarmModule('cut', '{ replicas: 2 }')));
    const spread = await watch(id, (seen) => seen.status === 'RUNNING');
    expect(spread.at(-1)?.runningOn).toEqual([cluster.managerNodeId, cluster.workerNodeId].sort());

    const { moved, report } = await lose(id, () => cluster.disconnectWorker());
    console.info(`swarm, the worker cut off (veth down): ${report}`);
    expect(moved.some(({ status, replicas }) => status === 'HANDLING' && replicas.running === 1)).toBe(true);

    await cluster.reconnectWorker();
    expect(await services.remove(id)).toBe(true);
  }, 180_000);

  it("rolls a failed update back through Swarm's own rollback, and rolls back on demand", async () => {
    const module = swarmModule('api', '{ replicas: 1, update: { monitor: 2s } }');
    const id = await services.create(serviceSpec(project, module));
    await watch(id, (seen) => seen.status === 'RUNNING');
    const containerSpec = async () => (await cluster.manager.getService(id).inspect()).Spec.TaskTemplate.ContainerSpec as { Image: string; Env: string[] };

    // An image no node has and none can pull: the new task is rejected, and failureAction rollback undoes the update.
    await services.update(id, (await services.inspect(id))!.version, serviceSpec(project, { ...module, image: 'berth-test/absent:1.0' }));
    const failed = await watch(id, (seen) => seen.update === 'rollback_completed' && seen.status === 'RUNNING', 120_000);
    expect(failed.some(({ status }) => status === 'HANDLING')).toBe(true);
    expect((await containerSpec()).Image).toBe(testImage);

    await services.update(id, (await services.inspect(id))!.version, serviceSpec(project, { ...module, envs: { ROLE: 'updated' } }));
    await watch(id, (seen) => seen.update === 'completed' && seen.status === 'RUNNING');
    expect((await containerSpec()).Env).toEqual(['ROLE=updated']);
    await services.rollback(id);
    await watch(id, (seen) => seen.update === 'rollback_completed' && seen.status === 'RUNNING');
    expect((await containerSpec()).Env).toEqual(['ROLE=replica']);

    expect(await services.remove(id)).toBe(true);
    expect(proxy.refused).toEqual([]);
  }, 180_000);
});
