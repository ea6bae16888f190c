import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { testImage } from '../fixtures/images.ts';
import { killLeftovers, startSecondEngine, unmountUnder, type SecondEngine } from './second-engine.ts';

const run = promisify(execFile);

/**
 * A two-node Docker Swarm on this machine, owned by one test file: a manager and a worker, two dockerd
 * each in a network namespace of its own, joined by a veth pair. Nothing of it touches the main engine.
 */
export interface SwarmCluster {
  /** The manager's unix socket: the engine berth drives (only a manager answers /services, /tasks, /nodes). */
  managerSocket: string;
  workerSocket: string;
  manager: Dockerode;
  worker: Dockerode;
  managerNodeId: string;
  workerNodeId: string;
  /** Stops the worker's dockerd (its containers with it): the manager marks it down after a few heartbeats. */
  stopWorker(): Promise<void>;
  /** Starts the worker's dockerd again; it rejoins the swarm by itself. Resolves once the manager sees it ready. */
  startWorker(): Promise<void>;
  /** Takes the worker's end of the veth down: a node that vanishes (crash, network cut), its containers still running. */
  disconnectWorker(): Promise<void>;
  /** Brings it back up; resolves once the manager sees the worker ready again. */
  reconnectWorker(): Promise<void>;
  /** Both daemons' logs, for failure messages. */
  logs(): string;
  /** Removes everything (daemons, their containers and mounts, namespaces, veth, folders), whatever state it is in. */
  dispose(): Promise<void>;
}

/** The veth pair's subnet: it lives only between the two namespaces, so it clashes with nothing on the host. */
const managerAddress = '10.99.0.1';
const workerAddress = '10.99.0.2';
const heartbeatNs = 1e9;
const readyTimeoutMs = 60_000;

/** Names carry the test process's pid, so that two runs never share them and a dead run's leftovers are known. */
const namePrefix = 'berth-sw-';

export async function startSwarmCluster({ images = [testImage] }: { images?: readonly string[] } = {}): Promise<SwarmCluster> {
  await removeLeftovers();
  const base = `${namePrefix}${process.pid}`;
  const namespaces = { manager: `${base}-m`, worker: `${base}-w` };
  const engines: SecondEngine[] = [];
  const dispose = async () => {
    const problems: unknown[] = [];
    for (const engine of engines) await engine.dispose().catch((error: unknown) => problems.push(error));
    for (const namespace of Object.values(namespaces)) await deleteNamespace(namespace).catch((error: unknown) => problems.push(error));
    if (problems.length > 0) throw new AggregateError(problems, 'could not clean up the swarm cluster');
  };
  try {
    await linkNamespaces(namespaces.manager, namespaces.worker);
    const startNode = async (namespace: string) => {
      const engine = await startSecondEngine({ prefix: `${namespace}-`, launch: inNamespace(namespace), daemonArgs: [], images });
      engines.push(engine);
      return engine;
    };
    const [manager, worker] = await Promise.all([startNode(namespaces.manager), startNode(namespaces.worker)]);
    const managerNodeId = await initSwarm(manager.docker);
    const workerNodeId = await joinSwarm(manager.docker, worker.docker);
    const cluster: SwarmCluster = {
      managerSocket: manager.socketPath,
      workerSocket: worker.socketPath,
      manager: manager.docker,
      worker: worker.docker,
      managerNodeId,
      workerNodeId,
      stopWorker: () => worker.stop(),
      startWorker: async () => {
        await worker.start();
        await nodeReady(manager.docker, workerNodeId);
      },
      disconnectWorker: async () => {
        await run('ip', ['-n', namespaces.worker, 'link', 'set', 'swarm0', 'down']);
      },
      reconnectWorker: async () => {
        await run('ip', ['-n', namespaces.worker, 'link', 'set', 'swarm0', 'up']);
        await nodeReady(manager.docker, workerNodeId);
      },
      logs: () => `manager:\n${manager.log().slice(-3000)}\nworker:\n${worker.log().slice(-3000)}`,
      dispose,
    };
    return cluster;
  } catch (error) {
    await dispose().catch(() => {});
    throw error;
  }
}

/**
 * nsenter rather than `ip netns exec`, which remounts /sys and so hides the cgroup mounts dockerd needs; a
 * mount namespace of its own (slave: the host's mounts still reach it) keeps its mounts off the host's.
 */
function inNamespace(namespace: string): string[] {
  return ['nsenter', `--net=/run/netns/${namespace}`, 'unshare', '--mount', '--propagation', 'slave'];
}

async function linkNamespaces(manager: string, worker: string): Promise<void> {
  await run('ip', ['netns', 'add', manager]);
  await run('ip', ['netns', 'add', worker]);
  // Made straight into the namespaces: the pair never appears on the host, so its names clash with nothing.
  await run('ip', ['link', 'add', 'swarm0', 'netns', manager, 'type', 'veth', 'peer', 'name', 'swarm0', 'netns', worker]);
  for (const [namespace, address] of [[manager, managerAddress], [worker, workerAddress]] as const) {
    await run('ip', ['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'swarm0']);
    await run('ip', ['-n', namespace, 'link', 'set', 'swarm0', 'up']);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
  }
}

async function deleteNamespace(namespace: string): Promise<void> {
  const present = await readdir('/run/netns').catch(() => [] as string[]);
  if (present.includes(namespace)) await run('ip', ['netns', 'delete', namespace]);
}

/** A heartbeat of 1 s rather than 5 s: a stopped worker is marked down after about 3 s instead of 12. */
async function initSwarm(manager: Dockerode): Promise<string> {
  await manager.swarmInit({ ListenAddr: `${managerAddress}:2377`, AdvertiseAddr: managerAddress, Spec: { Dispatcher: { HeartbeatPeriod: heartbeatNs } } });
  const info = (await manager.info()) as { Swarm: { NodeID: string } };
  return info.Swarm.NodeID;
}

async function joinSwarm(manager: Dockerode, worker: Dockerode): Promise<string> {
  const swarm = (await manager.swarmInspect()) as { JoinTokens: { Worker: string } };
  await worker.swarmJoin({ ListenAddr: `${workerAddress}:2377`, AdvertiseAddr: workerAddress, RemoteAddrs: [`${managerAddress}:2377`], JoinToken: swarm.JoinTokens.Worker });
  const info = (await worker.info()) as { Swarm: { NodeID: string } };
  await nodeReady(manager, info.Swarm.NodeID);
  return info.Swarm.NodeID;
}

/** Waits until the manager reports the node ready. */
async function nodeReady(manager: Dockerode, nodeId: string): Promise<void> {
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const nodes = (await manager.listNodes()) as { ID: string; Status?: { State?: string } }[];
    if (nodes.some((node) => node.ID === nodeId && node.Status?.State === 'ready')) return;
    if (Date.now() > deadline) throw new Error(`swarm node ${nodeId} was not ready within ${readyTimeoutMs} ms`);
    await sleep(100);
  }
}

/**
 * What a run that died without disposing left: its daemons (still running in their namespaces) with their
 * containers, their folders and the namespaces themselves. A leftover is one whose run's process is gone.
 */
async function removeLeftovers(): Promise<void> {
  for (const folder of (await readdir('/tmp')).filter(deadRun)) {
    const root = join('/tmp', folder);
    await killLeftovers(root, join(root, 'data'));
    await unmountUnder(root);
    await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
  for (const namespace of (await readdir('/run/netns').catch(() => [] as string[])).filter(deadRun)) await deleteNamespace(namespace);
}

function deadRun(name: string): boolean {
  const match = new RegExp(`^${namePrefix}(\\d+)-`).exec(name);
  if (!match) return false;
  try {
    process.kill(Number(match[1]), 0);
    return false;
  } catch {
    return true;
  }
}
