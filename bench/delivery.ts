// Benchmarks b and d: an outside change reaching graphql-ws subscribers of berth, against a bare `ws`
// server (bench/floor-ws.ts) broadcasting berth's own frame to as many clients connected the same
// way; and both processes' RSS while they hold those connections. The subscribers of each side are
// processes of their own (bench/subscribers.ts), sharded over several past 2,500.
import type { ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type Dockerode from 'dockerode';
import { rssMb } from './berth-process.ts';
import { WsFloor } from './floor-process.ts';
import { percentile } from './stats.ts';
import { SubscriberShards } from './subscriber-process.ts';
import { subscriptionId, type StatusChange } from './subscribers.ts';

export interface DeliveryRow {
  subscribers: number;
  /** Kept trials per side; 0 when only the memory was asked for. */
  trials: number;
  berth: { deliveries: number[]; allDelivered: number[]; rss: number };
  floor: { deliveries: number[]; allDelivered: number[]; rss: number };
  /** The floor's broadcast at the engine's event for a stop/start of a container of its own, the engine's work beside it as beside berth's. */
  engineFloor: Samples;
}

export interface DeliveryOptions {
  berth: ChildProcess;
  berthCommand: [string, string[]];
  port: number;
  docker: Dockerode;
  /** The container of `module`, stopped and started by each of berth's trials. */
  containerId: string;
  /** A stopped container berth does not follow, stopped and started by each of the floor's trials with the engine beside. */
  floorContainerId: string;
  module: string;
  counts: readonly number[];
  /** Kept trials per side at a count (`trialsAt`), after `warmUp` each not kept. */
  trialsAt: (count: number) => number;
  warmUp: number;
}

const block = 10;
/** Every order of three sides. */
const orders = [
  [0, 1, 2],
  [1, 2, 0],
  [2, 0, 1],
  [0, 2, 1],
  [2, 1, 0],
  [1, 0, 2],
];
const now = () => performance.timeOrigin + performance.now();
const sleep = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

/** What graphql-ws sends for `change`, with the id every bench subscriber uses. */
const frameOf = (change: StatusChange) => JSON.stringify({ id: subscriptionId, type: 'next', payload: { data: { moduleStatusChanged: change } } });

interface Samples {
  deliveries: number[];
  allDelivered: number[];
}

function keep(samples: Samples, times: readonly number[], trigger: number): void {
  for (const arrival of times) samples.deliveries.push(arrival - trigger);
  samples.allDelivered.push(Math.max(...times) - trigger);
}

export async function benchDelivery(options: DeliveryOptions): Promise<DeliveryRow[]> {
  const { docker, containerId, floorContainerId } = options;
  const container = docker.getContainer(containerId);
  const floorContainer = docker.getContainer(floorContainerId);
  // berth's clock starts when the engine's event reaches a raw listener here: berth hears it at the same time.
  const events = (await docker.getEvents({ filters: { type: ['container'], container: [containerId, floorContainerId], event: ['start', 'die'] } })) as NodeJS.ReadableStream;
  const engineSeen: number[] = [];
  /** Called at once with the arrival of the floor container's next event. */
  let onFloorEvent: ((at: number) => void) | undefined;
  createInterface({ input: events as never }).on('line', (line: string) => {
    const at = now();
    const { id } = JSON.parse(line) as { id: string };
    if (id === containerId) engineSeen.push(at);
    else if (id === floorContainerId) onFloorEvent?.(at);
  });
  const floor = await WsFloor.start(options.berthCommand);
  // A floor of its own, with clients of its own, follows the engine: the floor of b and d stays a bare server.
  const engineFloorProcess = await WsFloor.start(options.berthCommand);
  const berthSubscribers = new SubscriberShards();
  const floorSubscribers = new SubscriberShards();
  const engineFloorSubscribers = new SubscriberShards();
  const frames = new Map<string, string>();
  let running = (await container.inspect()).State.Running;
  let floorRunning = (await floorContainer.inspect()).State.Running;
  let floorSubscribed = false;

  /** One of berth's trials: the container stopped or started through the engine API. */
  const berthTrial = async (samples?: Samples) => {
    const status = running ? 'EXITED' : 'RUNNING';
    const { arrived } = await berthSubscribers.expect(status);
    const before = engineSeen.length;
    if (running) await container.stop({ t: 0 });
    else await container.start();
    running = !running;
    const { times, change } = await arrived;
    while (engineSeen.length === before) await sleep(1);
    frames.set(status, frameOf(change));
    if (samples) keep(samples, times, engineSeen[before]!);
    await sleep(50);
  };
  let floorStatus = 'RUNNING';
  /** One of the floor's trials: the same frame berth last sent for that status, broadcast on a command. */
  const floorTrial = async (samples?: Samples) => {
    floorStatus = floorStatus === 'RUNNING' ? 'EXITED' : 'RUNNING';
    const { arrived } = await floorSubscribers.expect(floorStatus);
    const trigger = now();
    floor.broadcast(floorStatus);
    const { times } = await arrived;
    if (samples) keep(samples, times, trigger);
    await sleep(50);
  };
  /**
   * The floor's trial with the engine's work beside it, as berth's has: a container of its own stopped or started, whose
   * event a second bare server reads from the engine itself and broadcasts at once to clients of its own, while the
   * engine goes on with the stop or start.
   * Its delay runs, as berth's does, from the moment the event reaches the listener here.
   */
  const engineFloorTrial = async (samples?: Samples) => {
    const { arrived } = await engineFloorSubscribers.expect(floorRunning ? 'EXITED' : 'RUNNING');
    const event = new Promise<number>((resolve) => (onFloorEvent = resolve));
    await (floorRunning ? floorContainer.stop({ t: 0 }) : floorContainer.start());
    floorRunning = !floorRunning;
    const [{ times }, trigger] = await Promise.all([arrived, event]);
    onFloorEvent = undefined;
    if (samples) keep(samples, times, trigger);
    await sleep(50);
  };

  const rows: DeliveryRow[] = [];
  try {
    for (const count of options.counts) {
      const url = (port: number) => `ws://127.0.0.1:${port}/graphql`;
      await berthSubscribers.subscribe(url(options.port), count, options.module);
      // berth's first trials (not kept) also give the frames the floor sends: berth's own bytes.
      for (let trial = 0; trial < Math.max(2, options.warmUp); trial++) await berthTrial();
      if (!floorSubscribed) {
        const initial = JSON.parse(frames.get('RUNNING')!) as { payload: { data: { moduleStatusChanged: StatusChange } } };
        frames.set('initial', frameOf({ ...initial.payload.data.moduleStatusChanged, previous: null }));
        for (const server of [floor, engineFloorProcess]) for (const [key, frame] of frames) await server.store(key, frame);
        // docker-modem's socketPath: the engine's socket, or (with no DOCKER_HOST) a function that finds it.
        const socketPath = (docker.modem as { socketPath?: string | (() => Promise<string>) }).socketPath ?? '/var/run/docker.sock';
        await engineFloorProcess.follow(typeof socketPath === 'string' ? socketPath : await socketPath(), floorContainerId);
        floorSubscribed = true;
      }
      await floorSubscribers.subscribe(url(floor.port), count, options.module);
      for (let trial = 0; trial < options.warmUp; trial++) await floorTrial();
      const berth: Samples = { deliveries: [], allDelivered: [] };
      const floorSamples: Samples = { deliveries: [], allDelivered: [] };
      const engineFloor: Samples = { deliveries: [], allDelivered: [] };
      const trials = options.trialsAt(count);
      if (trials > 0) {
        await engineFloorSubscribers.subscribe(url(engineFloorProcess.port), count, options.module);
        for (let trial = 0; trial < options.warmUp; trial++) await engineFloorTrial();
      }
      const sides = [() => berthTrial(berth), () => floorTrial(floorSamples), () => engineFloorTrial(engineFloor)];
      for (let round = 0; round < trials / block; round++) {
        // The six orders of the three sides in turn: over six rounds each side goes first, second and third twice, and
        // follows each other side as often.
        for (const side of orders[round % orders.length]!) for (let trial = 0; trial < block; trial++) await sides[side]!();
      }
      const [berthRss, floorRss] = await Promise.all([rssMb(options.berth.pid!), rssMb(floor.pid)]);
      rows.push({ subscribers: count, trials, berth: { ...berth, rss: berthRss }, floor: { ...floorSamples, rss: floorRss }, engineFloor });
      const p50 = (samples: Samples) => percentile(samples.allDelivered, 50);
      process.stdout.write(`delivery at ${count}: ${JSON.stringify({ trials, berthRss, floorRss, berth: p50(berth), floor: p50(floorSamples), engineFloor: p50(engineFloor) })}\n`);
    }
    return rows;
  } finally {
    (events as unknown as { destroy(): void }).destroy();
    berthSubscribers.close();
    floorSubscribers.close();
    engineFloorSubscribers.close();
    floor.close();
    engineFloorProcess.close();
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;
const ratio = (berth: number, floor: number) => `${(berth / floor).toFixed(2)}×`;

export function deliveryReport(rows: readonly DeliveryRow[], warmUp: number): string[] {
  const timed = rows.filter((row) => row.trials > 0);
  if (timed.length === 0) return [];
  const cells = (samples: Samples) => [percentile(samples.deliveries, 50), percentile(samples.deliveries, 99), percentile(samples.allDelivered, 50), percentile(samples.allDelivered, 99)];
  return [
    '## b. Outside change → subscribers, against a bare `ws` broadcast',
    '',
    "**berth**: each trial is a `docker stop`/`docker start` of a module's container through the engine API; a delivery's delay runs from the moment the engine's event reaches a raw event listener in the bench process to the moment a subscriber gets the change. " +
      "**floor**: a bare `ws` server in its own process, run with berth's node flags (bench/floor-ws.ts), holding as many graphql-ws clients connected the same way, broadcasts one precomputed `next` frame, berth's own bytes for that change (same size, same subscription id), on a command from the bench process; its delay runs from the moment the bench sends the command. " +
      "**floor, engine beside**: a second such server, with as many clients of its own, follows the engine's events itself (filtered to a container of its own, as a module's on a user-defined network, which berth does not follow) and broadcasts the same frame the moment it reads the event of a `docker stop`/`docker start` of that container, while the engine goes on with the stop or start as it does in berth's trials: on this machine's two cores, the engine's work after its event runs beside the delivery. Its delay runs, as berth's does, from the moment the event reaches the listener in the bench process. The target is judged against the floor alone; this row shows what share of the gap is the engine's. " +
      `Both sides' clients are graphql-ws clients (\`createClient\` over \`ws\`) in processes of their own (bench/subscribers.ts), 2,500 at most a process, each process from its own 127.0.0.x address, and take their arrival time with the same clock (\`performance.timeOrigin + performance.now()\`). ` +
      `Each side has ${warmUp} trials not kept at each count, then the kept ones run in blocks of ${block}, the sides in each of their orders in turn. ` +
      '**Per delivery** takes every subscriber\'s delay in every trial (subscribers × trials samples); **all delivered** takes, once per trial, the delay until the last subscriber has it.',
    '',
    '| subscribers | trials each | | per delivery p50 | per delivery p99 | all delivered p50 | all delivered p99 |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...timed.flatMap((row) => {
      const [berth, floor, engineFloor] = [cells(row.berth), cells(row.floor), cells(row.engineFloor)];
      const count = row.subscribers.toLocaleString('en');
      return [
        `| ${count} | ${row.trials} | berth | ${berth.map(ms).join(' | ')} |`,
        `| ${count} | ${row.trials} | floor | ${floor.map(ms).join(' | ')} |`,
        `| ${count} | | **berth ÷ floor** | ${berth.map((value, index) => `**${ratio(value, floor[index]!)}**`).join(' | ')} |`,
        `| ${count} | ${row.trials} | floor, engine beside | ${engineFloor.map(ms).join(' | ')} |`,
        `| ${count} | | berth ÷ floor, engine beside | ${berth.map((value, index) => ratio(value, engineFloor[index]!)).join(' | ')} |`,
      ];
    }),
    '',
  ];
}

export function memoryReport(rows: readonly DeliveryRow[], counts: readonly number[]): string[] {
  const measured = rows.filter((row) => counts.includes(row.subscribers));
  if (measured.length === 0) return [];
  return [
    '## d. Memory: berth against a bare `ws` server holding the same connections',
    '',
    "RSS (VmRSS) of berth and of the floor of b (a bare `ws` server with berth's node flags), each holding that many graphql-ws connections with one subscription each, read after the trials of b at that count (or after its trials not kept, when d runs without b).",
    '',
    '| subscribers | berth RSS | floor RSS | **berth ÷ floor** |',
    '| --- | --- | --- | --- |',
    ...measured.map((row) => `| ${row.subscribers.toLocaleString('en')} | ${row.berth.rss.toFixed(0)} MB | ${row.floor.rss.toFixed(0)} MB | **${ratio(row.berth.rss, row.floor.rss)}** |`),
    '',
  ];
}
