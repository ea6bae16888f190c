// moduleStats subscribers of one module: how many engine stats streams berth opens for them (target 1), and
// what each costs berth in memory and CPU. Alone: `node --experimental-strip-types bench/module-stats.ts`;
// bench/run.ts calls benchModuleStats. berth runs as `npm start` runs it, behind the allowlisting proxy of
// the integration tests, which counts the engine requests.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { ModuleStatsDocument } from '../test/generated/operations.ts';
import { engineSocketPath, startEngineProxy } from '../test/integration/engine-proxy.ts';
import { waitFor } from '../test/integration/harness.ts';
import { freePort, rssMb, startBerth } from './berth-process.ts';

const image = 'berth-test/http-env:1.0';
const statsEndpoint = 'GET /containers/{id}/stats';
/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const ticksPerSecond = 100;

export interface ModuleStatsBenchOptions {
  /** Subscribers of the one module; default 100. */
  subscribers?: number;
  /** How long berth's memory and CPU are watched with one subscriber, then with all; default 10 s. */
  seconds?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command (scripts/service-command.ts). */
  command?: [string, string[]];
}

interface Usage {
  rssMb: number;
  /** berth's CPU time over the window, in percent of one CPU. */
  cpuPercent: number;
  /** Readings each subscriber got in the window, the least of them. */
  readings: number;
}

/** The report as Markdown lines, its heading first; berth, its module and the proxy are gone when it resolves. */
export async function benchModuleStats({ subscribers = 100, seconds = 10, command }: ModuleStatsBenchOptions = {}): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-stats-'));
  const docker = new Dockerode();
  const project = `bench-stats-${process.pid}`;
  const proxy = await startEngineProxy(join(dir, 'engine.sock'), engineSocketPath());
  const clients: Client[] = [];
  let berth: ChildProcess | undefined;
  try {
    const configFile = join(dir, 'docker.yaml');
    await writeFile(configFile, `project: ${project}\nmodules:\n  load:\n    kind: bench${process.pid}\n    image: ${image}\n`);
    const port = await freePort();
    berth = await startBerth(command ?? (await serviceCommand()), { configFile, port, env: { DOCKER_HOST: `unix://${proxy.socketPath}` } });
    await waitFor(() => moduleRunning(port), 'the module to run (autostart)', 30_000);
    const url = `ws://127.0.0.1:${port}/graphql`;
    // One connection each, as separate monitors would have.
    const readings = Array.from({ length: subscribers }, () => 0);
    const errors: unknown[] = [];
    const subscribe = (index: number) => {
      const client = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
      clients.push(client);
      const query = { query: print(ModuleStatsDocument), variables: { names: ['load'] } };
      client.subscribe(query, { next: () => void readings[index]!++, error: (error) => errors.push(error), complete: () => {} });
    };
    subscribe(0);
    await waitFor(() => readings[0]! > 0, 'a first reading', 30_000);
    const one = await watch(berth.pid!, seconds, () => readings.slice(0, 1));
    const openedForOne = proxy.calls.get(statsEndpoint) ?? 0;
    for (let index = 1; index < subscribers; index++) subscribe(index);
    await waitFor(() => readings.every((count) => count > 0), 'a reading for every subscriber', 30_000);
    const all = await watch(berth.pid!, seconds, () => readings);
    if (errors.length > 0) throw new Error(`subscribers failed: ${JSON.stringify(errors[0])}`);
    const opened = proxy.calls.get(statsEndpoint) ?? 0;
    await Promise.all(clients.splice(0).map(async (client) => client.dispose()));
    await waitFor(() => (proxy.open.get(statsEndpoint) ?? 0) === 0, 'the stats stream to close', 30_000);
    return report({ subscribers, seconds, opened: [openedForOne, opened], one, all });
  } finally {
    await Promise.all(clients.map(async (client) => client.dispose()));
    if (berth && berth.exitCode === null) {
      berth.kill('SIGTERM');
      await once(berth, 'exit');
    }
    const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
    await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    const networks = await docker.listNetworks({ filters: { label: [`berth.project=${project}`] } });
    await Promise.all(networks.map((network) => docker.getNetwork(network.Id).remove()));
    await proxy.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** `opened`: the engine stats streams opened with one subscriber, and in all. */
function report({ subscribers, seconds, opened, one, all }: { subscribers: number; seconds: number; opened: [number, number]; one: Usage; all: Usage }): string[] {
  const others = subscribers - 1;
  const perSubscriberKb = ((all.rssMb - one.rssMb) * 1024) / others;
  const perSubscriberCpu = (all.cpuPercent - one.cpuPercent) / others;
  return [
    `## h. Stats: ${subscribers} \`moduleStats\` subscribers of one module`,
    '',
    `One module running; one subscriber, then ${subscribers} (one graphql-ws connection each), each watched for ${seconds} s. berth reaches the engine through the allowlisting proxy of the integration tests, which counts the engine's stats requests.`,
    '',
    '| figure | 1 subscriber | all | target |',
    '| --- | --- | --- | --- |',
    `| engine stats streams opened | ${opened[0]} | ${opened[1]} | 1 |`,
    `| readings per subscriber in ${seconds} s (least) | ${one.readings} | ${all.readings} | about ${seconds} |`,
    `| berth RSS | ${one.rssMb.toFixed(1)} MB | ${all.rssMb.toFixed(1)} MB (${perSubscriberKb.toFixed(0)} KB per added subscriber) | |`,
    `| berth CPU, percent of one CPU | ${one.cpuPercent.toFixed(1)} % | ${all.cpuPercent.toFixed(1)} % (${perSubscriberCpu.toFixed(3)} % per added subscriber) | |`,
  ];
}

/** berth's RSS at the end of a window of `seconds`, its CPU over it, and the fewest readings a subscriber got in it. */
async function watch(pid: number, seconds: number, counts: () => number[]): Promise<Usage> {
  const before = [...counts()];
  const cpuBefore = await cpuTicks(pid);
  await sleep(seconds * 1000);
  const cpuPercent = (((await cpuTicks(pid)) - cpuBefore) / ticksPerSecond / seconds) * 100;
  const readings = Math.min(...counts().map((count, index) => count - before[index]!));
  return { rssMb: await rssMb(pid), cpuPercent, readings };
}

/** User and system CPU time of the process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name in parentheses may hold spaces: count the fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function moduleRunning(port: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ module(name: "load") { status } }' }),
  });
  const { data } = (await response.json()) as { data?: { module?: { status?: string } } };
  return data?.module?.status === 'RUNNING';
}

async function main(): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), new Dockerode()), buildService()]);
  const [heading, ...lines] = await benchModuleStats();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const about = `Command: \`node --experimental-strip-types bench/module-stats.ts\`. Machine: ${machine}, Node ${process.version}. Generated ${new Date().toISOString()}.`;
  process.stdout.write(`${[heading, '', about, ...lines].join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
