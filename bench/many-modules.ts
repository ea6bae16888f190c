// Benchmark l: berth with 1,000 modules, each with a container on the engine: its start-up to ready, and the
// full resync after its event stream breaks, against their floor in the same run: the engine's own labelled
// list of the project's containers plus one inspect of each, made with dockerode from the bench process.
// An inspect per container is what berth cannot avoid there: at start-up the store knows nothing, and after a
// reconnect the list cannot tell a restart or a new exit code in the gap (same id, same state), nor whether a
// container has a healthcheck, a stopped one's health, its image id or its TTY, all of which inspect gives.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import pMap from 'p-map';
import { ownershipLabels } from '../src/modules/container-spec.ts';
import { inspectsAtOnce } from '../src/modules/module-reader.ts';
import { freePort, startBerth, stopBerth, untilReady } from './berth-process.ts';
import { ProxyChild } from './proxy-child.ts';
import { percentile, time } from './stats.ts';

export interface ManyModulesOptions {
  command: [string, string[]];
  project: string;
  /** Declares `count` modules of `project` in a docker.yaml, each with a container on the engine; answers the file. */
  populate: (project: string, count: number) => Promise<string>;
  /** Removes the project's containers and networks. */
  remove: (project: string) => Promise<void>;
  /** Default 1,000. */
  modules?: number;
  /** Start-ups of berth, each followed by `resyncs` resyncs; default 5 and 2. */
  trials?: number;
  resyncs?: number;
  /** A folder for berth's CPU profiles (node --cpu-prof), one per start-up; default none. */
  profileDir?: string | undefined;
}

export interface ManyModulesTimes {
  modules: number;
  /** From berth's spawn to /ready answering 200. */
  spawn: number[];
  /** From berth's first engine call to /ready answering 200. */
  sync: number[];
  startFloor: number[];
  /** From berth's new event stream, after the old one was cut, to /ready answering 200. */
  resync: number[];
  resyncFloor: number[];
}

const now = () => performance.timeOrigin + performance.now();
const readyPollMs = 5;

/**
 * The floor: the project's containers listed by berth's labels, then every one inspected, as many at once as berth's
 * resync does. All at once was slower, and on a loaded machine the proxy's listen queue overflowed (EAGAIN).
 */
function floor(docker: Dockerode, project: string): Promise<number> {
  const label = Object.entries(ownershipLabels(project)).map(([key, value]) => `${key}=${value}`);
  return time(async () => {
    const listed = await docker.listContainers({ all: true, filters: { label } });
    await pMap(listed, (container) => docker.getContainer(container.Id).inspect(), { concurrency: inspectsAtOnce });
  });
}

/** Each side in turn, the two taking turns at going first. */
async function alternate(trial: number, berth: () => Promise<void>, floorSide: () => Promise<void>): Promise<void> {
  if (trial % 2 === 0) await berth().then(floorSide);
  else await floorSide().then(berth);
}

export async function benchManyModules(options: ManyModulesOptions): Promise<string[]> {
  const { command, project, modules = 1000, trials = 5, resyncs = 2 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-many-'));
  const times: ManyModulesTimes = { modules, spawn: [], sync: [], startFloor: [], resync: [], resyncFloor: [] };
  let proxy: ProxyChild | undefined;
  let berth: ChildProcess | undefined;
  try {
    const configFile = await options.populate(project, modules);
    proxy = await ProxyChild.start(command, join(dir, 'engine.sock'));
    const docker = new Dockerode({ socketPath: proxy.socketPath });
    const port = await freePort();
    const profile = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [];
    const berthRun: [string, string[]] = [command[0], [...profile, ...command[1]]];
    const env = { DOCKER_HOST: `unix://${proxy.socketPath}` };
    for (let trial = 0; trial < trials; trial++) {
      const started = async () => {
        const firstCall = proxy!.next('call');
        proxy!.send({ type: 'arm' });
        const began = now();
        berth = await startBerth(berthRun, { configFile, port, env, log: 'ignore', readyWithinMs: 300_000, pollMs: readyPollMs });
        const ready = now();
        times.spawn.push(ready - began);
        times.sync.push(ready - (await firstCall).at);
      };
      await alternate(trial, started, async () => void times.startFloor.push(await floor(docker, project)));
      for (let resync = 0; resync < resyncs; resync++) {
        await alternate(trial + resync, () => resynced(proxy!, berth!, port).then((ms) => void times.resync.push(ms)), async () => void times.resyncFloor.push(await floor(docker, project)));
      }
      await stopBerth(berth);
      process.stdout.write(`l: trial ${trial + 1}/${trials}: ready ${times.spawn.at(-1)!.toFixed(0)} ms from spawn, floor ${times.startFloor.at(-1)!.toFixed(0)} ms\n`);
    }
    return manyModulesReport(times);
  } finally {
    await stopBerth(berth);
    proxy?.stop();
    await options.remove(project);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Cuts berth's event stream at the proxy; answers the time from its new stream to /ready answering 200 again. */
async function resynced(proxy: ProxyChild, berth: ChildProcess, port: number): Promise<number> {
  // Only the new stream's call is reported (none is armed): berth has marked the engine unreachable by then.
  const reconnected = proxy.next('call');
  proxy.send({ type: 'cut' });
  const { at } = await reconnected;
  if (!(await untilReady(berth, port, 300_000, readyPollMs))) throw new Error('berth did not become ready again after its event stream was cut');
  return now() - at;
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

export function manyModulesReport(times: ManyModulesTimes): string[] {
  // Each measure's floor ran next to it: the ratio within the pair leaves out the machine's drift across trials.
  const row = (what: string, berth: number[], floorTimes: number[]) => {
    const ratios = berth.map((berthTime, pair) => berthTime / floorTimes[pair]!);
    return `| ${what} | ${berth.length} | ${ms(percentile(berth, 50))} | ${ms(percentile(berth, 99))} | ${ms(percentile(floorTimes, 50))} | ${ms(percentile(floorTimes, 99))} | **${percentile(ratios, 50).toFixed(2)}×** | ${percentile(ratios, 99).toFixed(2)}× |`;
  };
  return [
    `## l. ${times.modules.toLocaleString('en')} modules: start-up and resync against the engine's list and inspects`,
    '',
    `${times.modules.toLocaleString('en')} modules with a stopped container each (copies made through the engine API, as in a). ` +
      `The floor is the engine's own list of the project's containers by berth's labels (\`GET /containers/json?all=1\`) plus one inspect of each, ${inspectsAtOnce} at once as berth makes them (all at once was slower), made with dockerode from the bench process: ` +
      'at start-up the store knows nothing, and after a reconnect the list cannot tell a restart or a new exit code in the gap, a healthcheck, a stopped container\'s health, the image id or the TTY. ' +
      "Both sides reach the engine through the same allowlisting proxy in a process of its own (bench/proxy-process.ts), which clocks berth's calls. " +
      "Start-up is berth's spawn, or its first engine call, to `/ready` answering 200 (asked every 5 ms; it waits for the first sync); a resync is the proxy cutting berth's event stream, timed from berth's new stream to `/ready` answering 200 again (the full resync of a reconnect; the backoff before it left out). " +
      'Each trial starts berth and then resyncs it twice, each measure next to a floor, the two taking turns at going first; **berth ÷ floor** is the median over the pairs of berth\'s time over its floor\'s (the machine is shared: its load moves both alike within a pair).',
    '',
    '| | trials | berth p50 | berth p99 | floor p50 | floor p99 | **berth ÷ floor p50** | berth ÷ floor p99 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('start-up, from spawn', times.spawn, times.startFloor),
    row('start-up, from the first engine call', times.sync, times.startFloor),
    row('resync after a reconnect', times.resync, times.resyncFloor),
    '',
  ];
}
