// Benchmark m: an engine restart that stops 1,000 running modules at once, delivered to 1,000 graphql-ws
// subscribers of every module's status, then again with slow subscribers that stop reading meanwhile.
// The engine is a second dockerd of the bench's own (test/integration/second-engine.ts), never the main one.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type Dockerode from 'dockerode';
import { startSecondEngine, type SecondEngine } from '../test/integration/second-engine.ts';
import { freePort, rssMb, startBerth, stopBerth } from './berth-process.ts';
import { WsFloor } from './floor-process.ts';
import { post } from './http-post.ts';
import { engineBack } from './recovery.ts';
import { percentile } from './stats.ts';
import { Subscribers, withOpenFileLimit } from './subscriber-process.ts';
import type { ClientOutcome, StormCommand, StormReport } from './storm-subscribers.ts';

const image = 'berth-test/http-env:1.0';
/** Leaves at once on SIGTERM, and forks nothing while it runs. */
const command = `["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 3600 & wait $!; done"]`;
const targetMs = 1_000;
const perShard = 250;
const step = 50;
// A container start took about a second on the 2-core benchmark machine (its iptables work), and autostart starts
// them a few at a time: 1,000 modules took most of 20 minutes to run there.
const startDeadlineMs = 2_400_000;
const deliveryDeadlineMs = 180_000;
/** Each client's one subscription's id: the floor's frames carry it. */
const subscriptionId = '1';

export interface StormOptions {
  /** How to run berth, as [program, args]. */
  command: [string, string[]];
  /** Modules, all running before the storm; default 1,000. */
  modules?: number;
  /** Subscribers of every module's status; default 1,000. */
  subscribers?: number;
  /** Slow subscribers of the second storm, beside the others; default 250. */
  slow?: number;
}

type Shard = Subscribers<StormCommand, StormReport>;

interface Storm {
  slow: number;
  /** From the engine's SIGTERM to its exit: it stops its containers first. */
  engineDownMs: number;
  /** Container events the raw listeners saw (on the engine going down, and replayed after its return). */
  rawEvents: number;
  /** Containers the raw listeners saw a `die` of. */
  dies: number;
  /** Every module of the storm. */
  names: readonly string[];
  /** The modules whose container's `die` the raw listener read before the engine went; the others' final status can come only from a resync. */
  told: string[];
  /** The engine's first answer after its restart, epoch ms. */
  answered: number;
  /** From the engine's SIGTERM to its first answer after the restart. */
  engineBackMs: number;
  /**
   * From the engine's time for its last live container event to that event reaching the raw listener here (the engine's
   * sending and this process's reading of it); NaN if none came live.
   */
  lastLiveArrivalMs: number;
  /** The last raw container event, live or replayed, at the engine's own time, epoch ms; the engine's first answer if none came. */
  lastEngineEvent: number;
  /** The last container event read as it came, at the engine's own time, epoch ms; the engine's first answer if none came. */
  lastLiveEvent: number;
  fast: ClientOutcome[];
  slowOutcomes: ClientOutcome[];
  rssBefore: number;
  rssPeak: number;
  /** The floor's whole storm: the same final statuses broadcast at once by a bare `ws` server to as many clients; NaN if it failed. */
  floorMs: number;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

/** Runs section m and returns its part of docs/benchmarks.md, one line per element. */
export async function benchStorm(options: StormOptions): Promise<string[]> {
  const { modules = 1000, subscribers = 1000, slow = 250 } = options;
  const dir = await mkdtemp(join(tmpdir(), 'berth-storm-'));
  const names = Array.from({ length: modules }, (_, index) => `s${index}`);
  let engine: SecondEngine | undefined;
  let berth: ChildProcess | undefined;
  const shards: Shard[] = [];
  try {
    // Its own xtables lock: each container start on a user-defined network writes the embedded DNS's iptables rules
    // in the container's namespace, and the machine-wide lock, shared with every other engine, made a start take seconds.
    const launch = ['env', `XTABLES_LOCKFILE=${join(dir, 'xtables.lock')}`, 'unshare', '--net'];
    engine = await startSecondEngine({ prefix: 'berth-storm-', images: [image], launch });
    log(`engine ready at ${engine.socketPath}`);
    const port = await freePort();
    const env = { DOCKER_HOST: `unix://${engine.socketPath}`, BERTH_MAX_CONNECTIONS: String(subscribers + slow + 100) };
    const spawned = performance.now();
    berth = await startBerth(withOpenFileLimit(options.command), { configFile: await writeConfig(dir, names), port, env, log: 'ignore', readyWithinMs: startDeadlineMs });
    await allRunning(port, modules, spawned + startDeadlineMs);
    const autostartMs = performance.now() - spawned;
    log(`${modules} modules running ${(autostartMs / 1000).toFixed(1)} s after berth's spawn (autostart)`);
    for (let at = 0; at < subscribers; at += perShard) shards.push(await subscribed(port, Math.min(perShard, subscribers - at), false, shards.length, modules));
    log(`${subscribers} subscribers have every module's status`);
    const slowShards: Shard[] = [];
    for (let at = 0; at < slow; at += perShard) slowShards.push(await subscribed(port, Math.min(perShard, slow - at), true, shards.length + slowShards.length, modules));
    log(`${slow} slow subscribers have every module's status`);
    shards.push(...slowShards);
    const berthStorm = await storm(engine, berth, shards, slowShards, names);
    // The floor's clients replace berth's, and berth goes: neither side's processes load the other's run.
    for (const shard of shards.splice(0)) shard.close();
    await stopBerth(berth);
    // A floor that fails loses only itself, not the storm berth took most of half an hour to set up.
    const floorMs = await floorStorm(options.command, names, subscribers).catch((error: unknown) => {
      log(`the floor failed: ${String(error)}`);
      return Number.NaN;
    });
    const storms = [{ ...berthStorm, floorMs }];
    log(`floor: the whole storm to ${subscribers} subscribers in ${floorMs.toFixed(0)} ms`);
    return section({ modules, subscribers, autostartMs, storms, engineVersion: (await engine.docker.version()).Version });
  } finally {
    for (const shard of shards) shard.close();
    await stopBerth(berth);
    await engine?.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

function log(line: string): void {
  process.stdout.write(`m: ${line}\n`);
}

async function writeConfig(dir: string, names: readonly string[]): Promise<string> {
  const file = join(dir, 'docker.yaml');
  const module = (name: string) => `  ${name}:\n    kind: storm\n    image: ${image}\n    command: ${command}\n`;
  await writeFile(file, `project: storm-${process.pid}\nmodules:\n${names.map(module).join('')}`);
  return file;
}

/** Polls the modules query every 250 ms until all `count` modules are RUNNING. */
async function allRunning(port: number, count: number, deadline: number): Promise<void> {
  let running = 0;
  while (performance.now() < deadline) {
    // A refused or reset request is polled again: berth may be busy starting modules.
    const answer = await post(port, '{ modules { status } }').catch(() => '');
    running = answer.split('"RUNNING"').length - 1;
    if (running === count) return;
    await sleep(250);
  }
  throw new Error(`only ${running} of ${count} modules were RUNNING in time`);
}

/**
 * A shard of `count` subscribers, all slow or none, once each has every module's status. They connect
 * `step` at a time: each opening snapshot is a message per module, and a client of a busy process that
 * waits too long to send its connection_init is closed (4408).
 */
async function subscribed(port: number, count: number, slow: boolean, index: number, modules: number): Promise<Shard> {
  const shard: Shard = new Subscribers('bench/storm-subscribers.ts');
  try {
    for (let at = 0; at < count; at += step) {
      const added = Math.min(step, count - at);
      shard.send({ type: 'subscribe', url: `ws://127.0.0.1:${port}/graphql`, count: added, slow: slow ? added : 0, modules, localAddress: `127.0.0.${2 + index}`, id: subscriptionId });
      await within(shard.reply('subscribed'), startDeadlineMs, 'subscribing');
    }
    return shard;
  } catch (error) {
    shard.close();
    throw error;
  }
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`m: ${what} took more than ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface RawEvent {
  /** The container's id. */
  id: string;
  /** The engine's own time for it, epoch ms. */
  at: number;
  /** When it reached the listener here, epoch ms. */
  arrived: number;
  /** Read as it came, not replayed after the engine's return. */
  live: boolean;
  action: string;
  /** The module of the container, from its `berth.module` label. */
  module: string | undefined;
}

/**
 * Every raw container event, by its id, action and engine time, dated by the engine's own time (its clock is this
 * host's): an event replayed from `since` (epoch s) after the restart arrives long after it happened, and this process,
 * late in a full `npm run bench`, holds the earlier sections' heap and may read a live one late.
 */
async function rawEvents(docker: Dockerode, seen: Map<string, RawEvent>, since?: number): Promise<{ destroy(): void }> {
  const stream = (await docker.getEvents({ since, filters: { type: ['container'] } })) as unknown as NodeJS.ReadableStream & { destroy(): void };
  // The stream ends with the daemon, reset: that end is expected.
  createInterface({ input: stream as never })
    .on('line', (line: string) => {
      const event = JSON.parse(line) as { id: string; Action: string; timeNano: number; Actor?: { Attributes?: Record<string, string> } };
      const key = `${event.id} ${event.Action} ${event.timeNano}`;
      const module = event.Actor?.Attributes?.['berth.module'];
      if (!seen.has(key)) seen.set(key, { id: event.id, at: event.timeNano / 1e6, arrived: Date.now(), live: since === undefined, action: event.Action, module });
    })
    .on('error', () => {});
  stream.on('error', () => {});
  return stream;
}

/**
 * The engine started again, a second time if the first fails: on a loaded machine its containerd may still be
 * ending the shims of the containers it stopped, and dockerd gives up waiting for it ("timeout waiting for containerd").
 */
async function restarted(engine: SecondEngine): Promise<number> {
  return engineBack(engine).catch(() => engineBack(engine));
}

/** berth's RSS every 20 ms until stopped: its peak. */
function sampleRss(pid: number): { peak: () => Promise<number> } {
  let peak = 0;
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      // berth gone mid-storm fails the run where the storm is awaited, with what it said (not here, unhandled).
      peak = Math.max(peak, await rssMb(pid).catch(() => 0));
      await sleep(20);
    }
  })();
  return { peak: async () => ((sampling = false), await loop, peak) };
}

/**
 * The floor of the storm: `subscribers` clients like berth's, of a bare `ws` server (bench/floor-ws.ts) that opens each
 * subscription with every module RUNNING, then on a command sends every module's change to EXITED, change by change,
 * each to every client. Answers the milliseconds from the command to the last client having every final status.
 */
async function floorStorm(command: [string, string[]], names: readonly string[], subscribers: number): Promise<number> {
  const floor = await WsFloor.start(command);
  const shards: Shard[] = [];
  try {
    // berth's bytes for these changes: the fields of ModuleStatusChanged, in its order.
    const at = new Date().toISOString();
    const frame = (name: string, previous: string | null, status: string) => JSON.stringify({ id: subscriptionId, type: 'next', payload: { data: { moduleStatusChanged: { module: { name }, previous, status, at } } } });
    await floor.store('initial', names.map((name) => frame(name, null, 'RUNNING')));
    await floor.store('storm', names.map((name) => frame(name, 'RUNNING', 'EXITED')));
    for (let at = 0; at < subscribers; at += perShard) shards.push(await subscribed(floor.port, Math.min(perShard, subscribers - at), false, shards.length, names.length));
    for (const shard of shards) shard.send({ type: 'expect', final: 'EXITED' });
    await Promise.all(shards.map((shard) => shard.reply('expecting')));
    const delivered = within(Promise.all(shards.map((shard) => shard.reply('delivered'))), deliveryDeadlineMs, 'the floor delivering the storm');
    const sent = now();
    floor.broadcast('storm');
    const clients = (await delivered).flatMap((report) => report.clients);
    const faulty = clients.find((client) => client.faults.length > 0 || client.done === undefined);
    if (faulty) throw new Error(`m: the floor's storm reached a client wrongly: ${faulty.faults.join('; ')}`);
    return Math.max(...clients.map((client) => client.done!)) - sent;
  } finally {
    for (const shard of shards) shard.close();
    floor.close();
  }
}

/** The engine stopped (SIGTERM stops its containers) and started again; every fast subscriber's outcome. */
async function storm(engine: SecondEngine, berth: ChildProcess, shards: Shard[], slowShards: Shard[], names: readonly string[]): Promise<Omit<Storm, 'floorMs'>> {
  for (const shard of shards) shard.send({ type: 'expect', final: 'EXITED' });
  await Promise.all(shards.map((shard) => shard.reply('expecting')));
  for (const shard of slowShards) shard.send({ type: 'pause' });
  await Promise.all(slowShards.map((shard) => shard.reply('paused')));
  const fastShards = shards.filter((shard) => !slowShards.includes(shard));
  const delivered = within(Promise.all(fastShards.map((shard) => shard.reply('delivered'))), deliveryDeadlineMs, 'delivering the storm');
  delivered.catch(() => {});
  const rssBefore = await rssMb(berth.pid!);
  const rss = sampleRss(berth.pid!);
  const seen = new Map<string, RawEvent>();
  const before = await rawEvents(engine.docker, seen);
  const stopping = Date.now();
  await engine.stop();
  const engineDownMs = Date.now() - stopping;
  before.destroy();
  // Epoch ms by the wall clock, as the engine's event times are (this process's monotonic clock drifts from it).
  const answered = Date.now() - (performance.now() - (await restarted(engine)));
  const after = await rawEvents(engine.docker, seen, Math.floor(stopping / 1000));
  const fast = (await delivered).flatMap((report) => report.clients);
  const rssPeak = await rss.peak();
  after.destroy();
  for (const shard of slowShards) shard.send({ type: 'resume' });
  const resumed = await within(Promise.all(slowShards.map((shard) => shard.reply('resumed'))), deliveryDeadlineMs, 'draining the slow subscribers');
  const slowOutcomes = resumed.flatMap((report) => report.clients);
  const events = [...seen.values()];
  const dying = events.filter((event) => event.action === 'die');
  const dies = new Set(dying.map((event) => event.id)).size;
  // Told: a `die` read as it came. A container whose `die` came only in the replay after the engine's return is timed as one never told.
  const told = [...new Set(dying.filter((event) => event.live).map((event) => event.module).filter((module) => module !== undefined))];
  const lastSeen = events.length > 0 ? Math.max(...events.map((event) => event.at)) : answered;
  // How late the engine's last live event reached the listener here: the engine's sending and this process's reading, not berth's.
  const live = events.filter((event) => event.live);
  const lastLive = live.reduce<RawEvent | undefined>((last, event) => (last && last.at >= event.at ? last : event), undefined);
  const lastLiveArrivalMs = lastLive ? lastLive.arrived - lastLive.at : Number.NaN;
  const lastLiveEvent = lastLive?.at ?? answered;
  const result = { slow: slowOutcomes.length, engineDownMs, rawEvents: seen.size, names, dies, told, answered, engineBackMs: answered - stopping, lastLiveArrivalMs, lastLiveEvent, lastEngineEvent: lastSeen, fast, slowOutcomes, rssBefore, rssPeak };
  log(JSON.stringify({ ...summary(result), faults: fast.flatMap((client) => client.faults).slice(0, 5) }));
  return result;
}

/**
 * Per fast client, when it had the final status of every module of `group`, less `from`; empty if the group is. A module
 * a client never had at the final status counts as never (Infinity).
 */
function lags(fast: readonly ClientOutcome[], group: readonly string[], from: number): number[] {
  if (group.length === 0) return [];
  return fast.map((client) => Math.max(...group.map((module) => client.finalAt[module] ?? Infinity)) - from);
}

function summary(storm: Omit<Storm, 'floorMs'>) {
  const told = new Set(storm.told);
  const untold = storm.names.filter((module) => !told.has(module));
  // The modules whose `die` came as the engine went, from its last event then; the others, from the engine's first answer
  // after its restart (or its last event, if later): the first moment the engine could tell their state.
  const done = lags(storm.fast, [...told], storm.lastLiveEvent);
  const resynced = lags(storm.fast, untold, Math.max(storm.answered, storm.lastEngineEvent));
  const worst = (values: number[]) => (values.length > 0 ? Math.max(...values) : Number.NaN);
  return {
    slow: storm.slow,
    engineDownMs: storm.engineDownMs,
    engineBackMs: storm.engineBackMs,
    lastLiveArrivalMs: storm.lastLiveArrivalMs,
    dies: storm.dies,
    rawEvents: storm.rawEvents,
    fastComplete: storm.fast.filter((client) => client.done !== undefined && client.faults.length === 0).length,
    fastFaulty: storm.fast.filter((client) => client.faults.length > 0).length,
    changesPerClient: percentile(storm.fast.map((client) => client.changes), 50),
    lastDeliveryMs: worst(done),
    p50DeliveryMs: done.length > 0 ? percentile(done, 50) : Number.NaN,
    untold: untold.length,
    lastResyncedMs: worst(resynced),
    /** The worse of the two: what the target and the floor's ratio judge. */
    lagMs: Math.max(...[worst(done), worst(resynced)].filter((value) => !Number.isNaN(value))),
    slowEnded: storm.slowOutcomes.filter((client) => client.done === undefined).length,
    rssBefore: storm.rssBefore,
    rssPeak: storm.rssPeak,
  };
}

interface Results {
  modules: number;
  subscribers: number;
  autostartMs: number;
  storms: Storm[];
  engineVersion: string;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** berth's lag after the last engine event against the floor's whole storm; a lag at or below zero has nothing left to compare. */
function lagRatio(lagMs: number, floorMs: number): string {
  if (Number.isNaN(floorMs)) return '—';
  return lagMs <= 0 ? '0× (done before the engine)' : `${(lagMs / floorMs).toFixed(2)}×`;
}

function section({ modules, subscribers, autostartMs, storms, engineVersion }: Results): string[] {
  return [
    `## m. Engine restart storm: ${modules.toLocaleString('en')} modules stopped at once, to ${subscribers.toLocaleString('en')} subscribers`,
    '',
    `berth follows ${modules.toLocaleString('en')} modules (${image} running \`sh\` that leaves on SIGTERM) on a second dockerd of the ` +
      `bench's own (Docker Engine ${engineVersion}, no bridge): all autostarted, running ${seconds(autostartMs)} after berth's spawn. ` +
      `${subscribers.toLocaleString('en')} graphql-ws clients in processes of their own (${perShard} a process) each subscribe to ` +
      '`moduleStatusChanged(initial: true)` of every module. The engine is then stopped with SIGTERM (it stops every container ' +
      'before it exits) and started again. A raw event listener in the bench process follows the engine until it goes and from ' +
      "its return (replaying what the new daemon sent before it connected); the last engine event is the last container event read " +
      "before the engine went, at the engine's own time for it. A stopping dockerd does not always send every container's `die`: berth can learn the state of " +
      "a container whose `die` did not come then (not told) only once the engine answers again. **No change lost or out of order** means, per " +
      "subscriber and module: every change's `previous` is the status delivered before it (an unbroken chain from the opening " +
      "snapshot; berth may hold intermediate statuses back, never skip one it told), nothing goes back to RUNNING, the subscription " +
      'does not end, and the last status is EXITED, what the engine left. **Last delivery** runs from the last engine event to the ' +
      "moment the last subscriber has the final status of every module whose `die` came; for the modules not told, it runs from the " +
      "engine's first answer after its restart. Each is taken from when each subscriber got each module's final status. " +
      'The slow subscribers, beside the others, stop reading their ' +
      "socket (paused) from before the stop until the others have everything; berth holds at most its batched writes' bound " +
      "of frames (the socket's high water mark, 64 KiB on Node 24) and at most `capacity` (1,000, or one per module when more) queued references to " +
      'changes shared by all subscribers for each, so what a slow subscriber adds to its RSS is bounded whatever the storm; ' +
      "one that reads nothing for 12 to 24 s answers no ping and graphql-ws's keep-alive ends it (counted as a feed that ended). " +
      'A negative last delivery means every final status was out before the engine sent its last container event (the `stop` ' +
      'events follow the `die` events berth publishes on). RSS is sampled every 20 ms during the storm. ' +
      "**The floor** runs after berth's storm, berth and its clients gone: as many clients of the same code (the fast ones) subscribe to a bare `ws` server in a " +
      "process of its own run with berth's node flags (bench/floor-ws.ts), which opens each subscription with every module " +
      'RUNNING and then, on a command, sends every module\'s change to EXITED (berth\'s bytes for it), change by change, each to ' +
      'every client, each socket corked until all are sent (one write a socket); its figure runs from the command to the moment the last client has every final status. ' +
      'It sends one change a module; berth sent the changes a subscriber column says. berth cannot be ' +
      'compared with it directly, since its changes come from the engine over the whole stop: **lag ÷ floor** sets the time berth ' +
      'still needed after the last engine event (or the engine\'s answer, the worse of the two) against the time the floor needs for the whole storm at once. At or under 1×, ' +
      'what berth had left to deliver once the engine was done took no longer than a bare broadcast of every change.',
    '',
    '| storm | slow subscribers | engine stop | raw container events | changes a subscriber | subscribers with every final status, no fault | last delivery after last engine event (modules told) | p50 | modules not told | engine back after its SIGTERM | last delivery after its answer (not told) | floor: the whole storm at once | **lag ÷ floor** | berth RSS before → peak | slow ones whose feed ended | ≤ 1 s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...storms.map((storm, index) => {
      const figures = summary(storm);
      const delay = (ms: number) => (Number.isNaN(ms) ? '—' : `${ms.toFixed(0)} ms`);
      const met = figures.lagMs <= targetMs && figures.fastFaulty === 0;
      return `| ${index + 1} | ${figures.slow} | ${seconds(figures.engineDownMs)} | ${figures.rawEvents} | ${figures.changesPerClient} | ${figures.fastComplete} of ${storm.fast.length} | ${delay(figures.lastDeliveryMs)} | ${delay(figures.p50DeliveryMs)} | ${figures.untold} | ${seconds(figures.engineBackMs)} | ${delay(figures.lastResyncedMs)} | ${Number.isNaN(storm.floorMs) ? 'failed' : `${storm.floorMs.toFixed(0)} ms`} | **${lagRatio(figures.lagMs, storm.floorMs)}** | ${figures.rssBefore.toFixed(0)} → ${figures.rssPeak.toFixed(0)} MB | ${figures.slowEnded} | ${met ? 'met' : '**not met**'} |`;
    }),
    '',
    ...storms.flatMap((storm, index) =>
      Number.isNaN(storm.lastLiveArrivalMs)
        ? []
        : [
            `Storm ${index + 1}: the engine's last container event before it went reached the raw listener ${storm.lastLiveArrivalMs.toFixed(0)} ms after the engine's own time for it ` +
              "(the engine's sending and this process's reading; the modules told are timed from the engine's time, so such a delay counts against berth).",
            '',
          ],
    ),
  ];
}
