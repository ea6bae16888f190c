// Whether a second engine slows what the first delivers: `npm run bench:engines` alone, and part of `npm run bench`.
// Two berths follow the same module's container on the main engine, one at a time: one with that engine alone, one with a
// second engine (a dockerd of the bench's own) beside it, in blocks that take turns.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { startSecondEngine, type SecondEngine } from '../test/integration/second-engine.ts';
import { freePort, startBerth, statusOf, stopBerth } from './berth-process.ts';
import { percentile } from './stats.ts';
import { Subscribers } from './subscriber-process.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const image = 'berth-test/http-env:1.0';
const warmUpTrials = 5;
const trialsPerBlock = 10;
const target = 1.1;

export interface EnginesOptions {
  /** Blocks of each berth, taking turns; default 6 (of 10 kept trials each). */
  blocks?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command. */
  command?: [string, string[]];
}

/**
 * The engine's own times (epoch milliseconds) of the container's start and die events. Not their arrival here: this
 * process, late in a full `npm run bench`, holds the earlier sections' heap, and its listener got the events after
 * berth's subscriber did (delays below zero, whose ratio says nothing). The engine's clock is this host's.
 */
async function eventTimes(docker: Dockerode, container: string): Promise<{ seen: number[]; close(): void }> {
  const events = (await docker.getEvents({ filters: { type: ['container'], container: [container], event: ['start', 'die'] } })) as NodeJS.ReadableStream & { destroy(): void };
  const seen: number[] = [];
  createInterface({ input: events }).on('line', (line: string) => seen.push((JSON.parse(line) as { timeNano: number }).timeNano / 1e6));
  return { seen, close: () => events.destroy() };
}

/**
 * One berth started on the configuration, one subscriber of the watched module, and `trialsPerBlock` outside
 * changes of its container after warm-up ones: each change's delay from the engine's own time of its event to
 * the subscriber's delivery.
 */
async function timeBlock(docker: Dockerode, project: string, run: [string, string[]], configFile: string, port: number): Promise<number[]> {
  const berth = await startBerth(run, { configFile, port, log: 'ignore' });
  const feed = new Subscribers();
  try {
    feed.send({ type: 'subscribe', url: `ws://127.0.0.1:${port}/graphql`, count: 1, module: 'watched' });
    await feed.reply('subscribed');
    // The first berth's autostart may still be under way: start from a settled container.
    while (!['RUNNING', 'EXITED'].includes(await statusOf(port, 'watched'))) await sleep(20);
    const [container] = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`, 'berth.module=watched'] } });
    if (!container) throw new Error('berth made no container for the watched module');
    const engineEvents = await eventTimes(docker, container.Id);
    const delays: number[] = [];
    let running = container.State === 'running';
    for (let trial = -warmUpTrials; trial < trialsPerBlock; trial++) {
      feed.send({ type: 'expect', status: running ? 'EXITED' : 'RUNNING' });
      const before = engineEvents.seen.length;
      const arrived = feed.reply('arrived');
      if (running) await docker.getContainer(container.Id).stop({ t: 0 });
      else await docker.getContainer(container.Id).start();
      running = !running;
      const { times } = await arrived;
      while (engineEvents.seen.length === before) await sleep(1);
      if (trial >= 0) delays.push(times[0]! - engineEvents.seen[before]!);
      await sleep(50);
    }
    engineEvents.close();
    return delays;
  } finally {
    feed.close();
    await stopBerth(berth);
  }
}

export async function benchEngines({ blocks = 6, command }: EnginesOptions = {}): Promise<string[]> {
  const docker = new Dockerode();
  const project = `bench-engines-${process.pid}`;
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-engines-'));
  let edge: SecondEngine | undefined;
  try {
    edge = await startSecondEngine();
    const module = (name: string, engine?: string) => `  ${name}:\n    kind: bench\n    image: ${image}\n${engine ? `    engine: ${engine}\n` : ''}`;
    const alone = join(dir, 'one.yaml');
    const beside = join(dir, 'two.yaml');
    await writeFile(alone, `project: ${project}\nmodules:\n${module('watched')}`);
    await writeFile(beside, `project: ${project}\nengines:\n  edge: { host: "unix://${edge.socketPath}" }\nmodules:\n${module('watched')}${module('far', 'edge')}`);
    const run = command ?? (await serviceCommand());
    const port = await freePort();
    const delays: [number[], number[]] = [[], []];
    // In blocks, one berth at a time (two would share the machine's cores), the order alternating block by block.
    for (let block = 0; block < blocks; block++) {
      for (const which of block % 2 === 0 ? [0, 1] : [1, 0]) {
        delays[which]!.push(...(await timeBlock(docker, project, run, [alone, beside][which]!, port)));
      }
    }
    const [one, two] = delays;
    const trials = one.length;
    const ratio = percentile(two, 50) / percentile(one, 50);
    const ms = (value: number) => `${value.toFixed(2)} ms`;
    return [
      '## j. Two engines: an outside change on one, against berth with that engine alone',
      '',
      `Two berths follow the same module's container on the main engine, one at a time, in blocks of ${trialsPerBlock} trials after ${warmUpTrials} not kept, taking turns at going first: one berth has that engine alone, the other also a second engine (a dockerd of the bench's own, with a running module of its own). Each has one graphql-ws subscriber in a process of its own. Each trial is a \`docker stop\`/\`docker start\` of the container through the engine API, timed from the engine's own time of its event (its clock is this host's) to the subscriber's delivery: the engine's streaming of the event is in both sides' figures. Target: ratio ≤ ${target}.`,
      '',
      '| berth | trials | p50 | p99 |',
      '| --- | --- | --- | --- |',
      `| one engine | ${trials} | ${ms(percentile(one, 50))} | ${ms(percentile(one, 99))} |`,
      `| two engines | ${trials} | ${ms(percentile(two, 50))} | ${ms(percentile(two, 99))} |`,
      `| **ratio (p50)** | | **${ratio.toFixed(3)}** (${ratio <= target ? 'met' : 'not met'}) | ${(percentile(two, 99) / percentile(one, 99)).toFixed(3)} |`,
      '',
    ];
  } finally {
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
    await Promise.all(leftovers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    for (const network of await docker.listNetworks({ filters: { label: [`berth.project=${project}`] } })) await docker.getNetwork(network.Id).remove().catch(() => {});
    await edge?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const docker = new Dockerode();
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), docker), buildService()]);
  const [heading, ...lines] = await benchEngines();
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const about = `Command: \`npm run bench:engines\`. Machine: ${machine}, Node ${process.version}. Generated ${new Date().toISOString()}.`;
  process.stdout.write(`${[heading, '', about, ...lines].join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
