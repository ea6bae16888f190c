// How fast a Swarm task's change reaches a subscriber: `npm run bench:swarm` alone, and part of `npm run bench`.
// berth drives the manager of a two-node swarm of the bench's own (test/integration/swarm-cluster.ts); each trial kills
// the container of the module's task on the worker, which the manager announces to no one: berth sees it by its poll.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { startSwarmCluster, type SwarmCluster } from '../test/integration/swarm-cluster.ts';
import { freePort, startBerth, statusOf, stopBerth } from './berth-process.ts';
import { percentile } from './stats.ts';
import { Subscribers } from './subscriber-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const image = 'berth-test/http-env:1.0';
const targetMs = 1_000;

export interface SwarmBenchOptions {
  /** Trials kept, after one not kept; default 50 (each waits out Swarm's 5 s restart delay). */
  trials?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command. */
  command?: [string, string[]];
}

/** The running task container of the module on the worker, once Swarm has one there. */
/**
 * When the manager's GET /tasks first showed the task of the container no longer running (read every 10 ms):
 * the moment the change exists for berth to see, after the worker has reported it.
 */
async function failedOnManager(cluster: SwarmCluster, container: string): Promise<number> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(10)) {
    const tasks = (await cluster.manager.listTasks()) as { Status: { State: string; ContainerStatus?: { ContainerID?: string } } }[];
    const task = tasks.find((candidate) => candidate.Status.ContainerStatus?.ContainerID === container);
    if (task && task.Status.State !== 'running') return performance.timeOrigin + performance.now();
  }
  throw new Error('the manager never showed the killed task as stopped');
}

async function workerTask(cluster: SwarmCluster, project: string): Promise<string> {
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(50)) {
    const [container] = await cluster.worker.listContainers({ filters: { label: [`berth.project=${project}`], status: ['running'] } });
    if (container) return container.Id;
  }
  throw new Error('no task of the module runs on the worker');
}

export async function benchSwarm({ trials = 50, command }: SwarmBenchOptions = {}): Promise<string[]> {
  const project = `bench-swarm-${process.pid}`;
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-swarm-'));
  const cluster = await startSwarmCluster();
  const feed = new Subscribers();
  let berth: Awaited<ReturnType<typeof startBerth>> | undefined;
  try {
    const configFile = join(dir, 'docker.yaml');
    // One replica, placed on the worker (Swarm would otherwise move it to the manager after a few failures there);
    // Swarm's default restart policy replaces a killed task after 5 s, while the module shows HANDLING: the bench
    // times the drop, not the recovery.
    await writeFile(
      configFile,
      `project: ${project}\nengines:\n  swarm: { host: "unix://${cluster.managerSocket}" }\nmodules:\n  watched:\n    kind: bench\n    image: ${image}\n    engine: swarm\n    deploy: { replicas: 1, placement: ["node.role==worker"] }\n`,
    );
    const port = await freePort();
    berth = await startBerth(command ?? (await serviceCommand()), { configFile, port, log: 'ignore' });
    feed.send({ type: 'subscribe', url: `ws://127.0.0.1:${port}/graphql`, count: 1, module: 'watched' });
    await feed.reply('subscribed');
    const delays: number[] = [];
    const afterManager: number[] = [];
    for (let trial = -1; trial < trials; trial++) {
      // No `expect RUNNING`: its arrival, sent late, would answer the next reply.
      while ((await statusOf(port, 'watched')) !== 'RUNNING') await sleep(20);
      const task = await workerTask(cluster, project);
      feed.send({ type: 'expect', status: 'HANDLING' });
      const arrived = feed.reply('arrived');
      // From the moment the kill is sent: the worker's die event comes only after its cleanup, late and unevenly.
      const killed = performance.timeOrigin + performance.now();
      await cluster.worker.getContainer(task).kill();
      const shown = await failedOnManager(cluster, task);
      const delivered = (await arrived).times[0]!;
      if (trial >= 0) {
        delays.push(delivered - killed);
        afterManager.push(delivered - shown);
      }
      process.stderr.write(`swarm bench: trial ${trial + 1}/${trials}: ${(delivered - killed).toFixed(0)} ms from the kill, ${(delivered - shown).toFixed(0)} ms from the manager\n`);
    }
    const ms = (value: number) => `${value.toFixed(0)} ms`;
    const row = (what: string, values: number[]) => `| ${what} | ${values.length} | ${ms(percentile(values, 50))} | **${ms(percentile(values, 99))}** (${percentile(values, 99) <= targetMs ? 'met' : 'not met'}) | ${ms(Math.max(...values))} |`;
    return [
      "## k. Swarm: a task's change reaching a subscriber",
      '',
      `berth drives the manager of a two-node swarm of the bench's own (two dockerd in network namespaces, a veth pair between them), one module of 1 replica placed on the worker. Each trial kills the task's container on the worker (\`docker kill\` through the worker's API): the manager sends no task event, so berth learns of it by its poll of GET /tasks (every 250 ms), or by a service or node event that comes first, once the worker has reported the task failed to the manager. Timed to the HANDLING delivery of a moduleStatusChanged subscriber (a process of its own) from the moment the kill is sent, and from the moment the manager's GET /tasks first shows the task stopped (this process reads it every 10 ms): the part berth answers for, the rest being the worker's report to the manager; the next trial waits for RUNNING again (Swarm replaces the task after its 5 s restart delay). ${trials} trials after 1 not kept. Target: p99 ≤ ${targetMs} ms.`,
      '',
      '| from | trials | p50 | p99 | max |',
      '| --- | --- | --- | --- | --- |',
      row('the kill', delays),
      row('the manager showing it', afterManager),
      '',
    ];
  } finally {
    feed.close();
    await stopBerth(berth);
    await cluster.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), new Dockerode()), buildService()]);
  const [heading, ...lines] = await benchSwarm();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const about = `Command: \`npm run bench:swarm\`. Machine: ${machine}, Node ${process.version}. Generated ${new Date().toISOString()}.`;
  process.stdout.write(`${[heading, '', about, ...lines].join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
