// The soak test: `npm run soak -- --minutes N` (default 5), not part of `npm test`.
// berth with 50 modules and 200 graphql-ws subscribers while a driver makes random outside changes (stop, kill,
// start, rm, rmi, tag) and berth's own starts and stops, through two engine restarts and one SIGKILL and restart of
// berth. At every quiet point each subscriber's last-seen status of every module must equal what the engine says,
// no module may have two containers, and after warm-up berth's RSS and open file descriptors stay within 10 %.
// It runs its own dockerd (test/integration/second-engine.ts), so the machine's engine is never restarted.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { startSecondEngine, type SecondEngine } from '../test/integration/second-engine.ts';
import { BerthProcess, type ResourceSample } from './soak-berth.ts';
import { startDriver, type Driver } from './soak-driver.ts';
import { dockerYaml, engineView, soakModules, tagOwnImage } from './soak-modules.ts';
import type { EngineView, ModuleStatus, SoakModule } from './soak-modules.ts';
import type { SoakSubscribersCommand, SubscribersSnapshot } from './soak-subscribers.ts';

const moduleCount = 50;
const subscriberCount = 200;
/** Own-image modules left untagged at the start, so that some modules begin NOT_LOADED. */
const initiallyUntagged = 2;
/** A quiet point waits for this long without any delivery to any subscriber. */
const quietMs = 2_000;
/** berth may take several seconds to reconnect after an engine restart; past this the quiet point compares anyway. */
const settleCapMs = 60_000;
const driftLimitPercent = 10;
const mismatchDetailsShown = 5;

type StepKind = 'quiet point' | 'engine restart' | 'berth SIGKILL and restart';
interface Step {
  /** How long the driver runs before the step. */
  afterMs: number;
  kind: StepKind;
}

/** One berth process's resources: the first quiet point after its warm-up is the baseline of the others. */
interface ResourceTrack {
  pid: number;
  warmAtMs: number;
  baseline?: ResourceSample;
  last?: ResourceSample;
  /** The largest drift from the baseline seen at a quiet point, in % (signed: the larger in magnitude). */
  rssDrift?: number;
  fdDrift?: number;
}

interface Tally {
  quietPoints: number;
  unsettled: number;
  mismatches: number;
  queryMismatches: number;
  duplicates: number;
  engineRestarts: number;
  berthRestarts: number;
  /** Transitions delivered up to the last quiet point. */
  transitionsSeen: number;
}

function emptyTally(): Tally {
  return {
    quietPoints: 0,
    unsettled: 0,
    mismatches: 0,
    queryMismatches: 0,
    duplicates: 0,
    engineRestarts: 0,
    berthRestarts: 0,
    transitionsSeen: 0,
  };
}

interface Soak {
  project: string;
  modules: SoakModule[];
  engine: SecondEngine;
  berth: BerthProcess;
  subscribers: Subscribers;
  driver?: Driver;
  drivenMs: number;
  warmUpMs: number;
  tracks: ResourceTrack[];
  tally: Tally;
}

const root = fileURLToPath(new URL('..', import.meta.url));

function readMinutes(): number {
  const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' } } });
  const minutes = Number(values.minutes);
  if (!(minutes > 0)) throw new Error(`--minutes takes a positive number, not ${values.minutes}`);
  return minutes;
}

/**
 * Quiet points every 30–45 s of driving and at the end. The incidents fall at about 30 %, 55 % and 80 % of the run,
 * each inside an interval, so that the driver runs both before and after it and a quiet point follows.
 */
function schedule(totalMs: number): Step[] {
  const intervals = Math.max(1, Math.round(totalMs / Math.min(45_000, Math.max(30_000, totalMs / 6))));
  const intervalMs = totalMs / intervals;
  const incidents: [number, StepKind][] = [
    [0.3, 'engine restart'],
    [0.55, 'berth SIGKILL and restart'],
    [0.8, 'engine restart'],
  ];
  const steps: Step[] = [];
  for (let interval = 0; interval < intervals; interval++) {
    const inside = incidents.filter(([at]) => Math.floor(at * intervals) === interval).map(([, kind]) => kind);
    const partMs = intervalMs / (inside.length + 1);
    steps.push(...inside.map((kind) => ({ afterMs: partMs, kind })), { afterMs: partMs, kind: 'quiet point' });
  }
  return steps;
}

const clock = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}`;
const say = (soak: Pick<Soak, 'drivenMs'>, line: string) => console.log(`[${clock(soak.drivenMs)}] ${line}`);
const percent = (value?: number) => (value === undefined ? 'n/a' : `${value >= 0 ? '+' : ''}${value.toFixed(1)} %`);

/** The subscribers' process (bench/soak-subscribers.ts), asked for snapshots over IPC, one at a time. */
class Subscribers {
  private readonly child: ChildProcess;

  constructor() {
    this.child = fork(join(root, 'bench/soak-subscribers.ts'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  subscribe(url: string, modules: string[]): void {
    this.send({ type: 'subscribe', url, count: subscriberCount, modules });
  }

  async snapshot(): Promise<SubscribersSnapshot> {
    const answer = once(this.child, 'message');
    this.send({ type: 'snapshot' });
    const [snapshot] = (await answer) as [SubscribersSnapshot];
    return snapshot;
  }

  close(): void {
    if (this.child.connected) this.send({ type: 'close' });
    setTimeout(() => this.child.kill('SIGKILL'), 2_000).unref();
  }

  private send(command: SoakSubscribersCommand): void {
    this.child.send(command);
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

interface Settled {
  calm: boolean;
  view: EngineView;
  snapshot: SubscribersSnapshot;
  queried: Map<string, ModuleStatus> | undefined;
  waitedMs: number;
}

/**
 * Waits until berth is ready, no module is HANDLING, every subscriber has its opening snapshot and nothing has
 * reached any subscriber for `quietMs`, then reads the engine; a delivery meanwhile means it was not quiet yet.
 */
async function settle(soak: Soak): Promise<Settled> {
  const started = Date.now();
  for (;;) {
    const capped = Date.now() - started > settleCapMs;
    const before = await soak.subscribers.snapshot();
    const queried = await soak.berth.moduleStatuses();
    const handling = !queried || [...queried.values()].includes('HANDLING');
    const subscribersQuiet = before.quietForMs >= quietMs && before.complete === subscriberCount;
    const calm = !handling && subscribersQuiet && (await soak.berth.isReady());
    if (calm || capped) {
      const view = await engineView(soak.engine.docker, soak.project, soak.modules);
      const snapshot = await soak.subscribers.snapshot();
      const still = snapshot.quietForMs >= before.quietForMs;
      if (still || capped) return { calm: calm && still, view, snapshot, queried, waitedMs: Date.now() - started };
    }
    await sleep(250);
  }
}

interface WrongModule {
  summary: string;
  /** The driver's last actions on it. */
  history: string[];
}

/** Every subscriber's last-seen status and the `modules` query against the engine, module by module. */
function compare(soak: Soak, { view, snapshot, queried }: Settled): WrongModule[] {
  const wrongModules: WrongModule[] = [];
  soak.modules.forEach((module, index) => {
    const expected = view.statuses.get(module.name)!;
    const seen = new Map<string, number>();
    for (const statuses of snapshot.statuses) {
      const status = statuses[index] || 'nothing';
      if (status !== expected) seen.set(status, (seen.get(status) ?? 0) + 1);
    }
    const wrong = [...seen.values()].reduce((sum, count) => sum + count, 0);
    const answered = queried?.get(module.name) ?? 'no answer';
    soak.tally.mismatches += wrong;
    if (answered !== expected) soak.tally.queryMismatches++;
    if (wrong === 0 && answered === expected) return;
    const saw = [...seen].map(([status, count]) => `${count} saw ${status}`).join(', ');
    const summary = `${module.name}: engine ${expected}, modules query ${answered}, subscribers: ${saw || 'all right'}`;
    wrongModules.push({ summary, history: soak.driver?.history(module.name) ?? [] });
  });
  soak.tally.duplicates += view.duplicates.length;
  for (const name of view.duplicates) wrongModules.push({ summary: `${name}: more than one container`, history: [] });
  return wrongModules;
}

async function trackResources(soak: Soak): Promise<string> {
  const sample = await soak.berth.sample();
  const track = soak.tracks.at(-1)!;
  const drift = (now: number, base: number) => ((now - base) / base) * 100;
  const larger = (a: number | undefined, b: number) => (a === undefined || Math.abs(b) > Math.abs(a) ? b : a);
  if (!track.baseline && soak.drivenMs >= track.warmAtMs) track.baseline = sample;
  else if (track.baseline) {
    track.rssDrift = larger(track.rssDrift, drift(sample.rssMb, track.baseline.rssMb));
    track.fdDrift = larger(track.fdDrift, drift(sample.fds, track.baseline.fds));
  }
  track.last = sample;
  const role = track.baseline === sample ? ' (baseline)' : track.baseline ? '' : ' (warming up)';
  return `RSS ${sample.rssMb.toFixed(1)} MB, ${sample.fds} fds${role}`;
}

async function quietPoint(soak: Soak): Promise<void> {
  await soak.driver?.pause();
  const settled = await settle(soak);
  const wrongModules = compare(soak, settled);
  const resources = await trackResources(soak);
  soak.tally.quietPoints++;
  if (!settled.calm) soak.tally.unsettled++;
  const waited = `${settled.calm ? 'settled' : 'NOT settled'} in ${(settled.waitedMs / 1000).toFixed(1)} s`;
  const delivered = settled.snapshot.transitions - soak.tally.transitionsSeen;
  soak.tally.transitionsSeen = settled.snapshot.transitions;
  say(soak, `quiet point ${soak.tally.quietPoints} (${waited}): ${delivered} transitions delivered since the last, ` +
    `${wrongModules.length} modules wrong, ${resources}`);
  for (const { summary, history } of wrongModules.slice(0, mismatchDetailsShown)) {
    console.log([`  ${summary}`, ...history.map((line) => `      ${line}`)].join('\n'));
  }
  soak.driver?.resume();
}

async function restartEngine(soak: Soak): Promise<void> {
  const started = Date.now();
  await soak.engine.stop();
  say(soak, `engine stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await soak.engine.start();
  soak.tally.engineRestarts++;
}

async function restartBerth(soak: Soak): Promise<void> {
  await soak.berth.kill();
  await soak.berth.start();
  soak.tally.berthRestarts++;
  soak.tracks.push({ pid: soak.berth.pid, warmAtMs: soak.drivenMs + soak.warmUpMs });
  say(soak, `berth (pid ${soak.berth.pid}) ready again`);
}

async function runSchedule(soak: Soak, steps: Step[]): Promise<void> {
  const incidents: Record<Exclude<StepKind, 'quiet point'>, (soak: Soak) => Promise<void>> = {
    'engine restart': restartEngine,
    'berth SIGKILL and restart': restartBerth,
  };
  for (const step of steps) {
    await sleep(step.afterMs);
    soak.drivenMs += step.afterMs;
    if (step.kind === 'quiet point') {
      await quietPoint(soak);
      continue;
    }
    // The driver keeps going through the incident: its calls fail meanwhile, and that is counted.
    const started = Date.now();
    await incidents[step.kind](soak);
    soak.drivenMs += Date.now() - started;
    say(soak, `${step.kind} took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

function formatCounts(counts: Map<string, number>): string {
  const total = [...counts.values()].reduce((sum, count) => sum + count, 0);
  const parts = [...counts].sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => `${key} ${count}`);
  return `${total}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** Prints the counts; answers the reasons the soak failed. */
function report(soak: Soak, minutes: number, snapshot: SubscribersSnapshot): string[] {
  const { tally, driver } = soak;
  const lines = [
    `minutes: ${minutes}, modules: ${moduleCount}, subscribers: ${subscriberCount}`,
    `changes made: ${formatCounts(driver!.counts.changes)}`,
    `changes not made: ${formatCounts(driver!.counts.notMade)}`,
    `berth operations: ${formatCounts(driver!.counts.berth)}`,
    `engine restarts: ${tally.engineRestarts}, berth SIGKILL and restart: ${tally.berthRestarts}`,
    `transitions delivered: ${snapshot.transitions} (${Math.round(snapshot.transitions / subscriberCount)} each)` +
      `, deliveries out of sequence: ${snapshot.discontinuities}`,
    `subscriptions berth ended: ${formatCounts(new Map(Object.entries(snapshot.resubscriptions)))}`,
    `quiet points: ${tally.quietPoints} (not settled within ${settleCapMs / 1000} s: ${tally.unsettled})`,
    `mismatches: ${tally.mismatches} (subscriber × module), modules query mismatches: ${tally.queryMismatches}`,
    `duplicates: ${tally.duplicates}`,
    ...soak.tracks.map(describeTrack),
  ];
  console.log(`\nberth soak\n${lines.map((line) => `  ${line}`).join('\n')}`);
  const failures: string[] = [];
  if (tally.mismatches > 0 || tally.queryMismatches > 0) failures.push('mismatches');
  if (tally.duplicates > 0) failures.push('duplicates');
  const drifts = soak.tracks.flatMap((track) => [track.rssDrift, track.fdDrift]).filter((drift) => drift !== undefined);
  if (drifts.some((drift) => Math.abs(drift) > driftLimitPercent)) failures.push(`a drift over ${driftLimitPercent} %`);
  if (drifts.length === 0) console.log('  (no quiet point after a baseline: run longer to measure the drift)');
  return failures;
}

function describeTrack(track: ResourceTrack): string {
  const { baseline, last } = track;
  if (!baseline || !last) return `berth pid ${track.pid}: no quiet point after its warm-up`;
  const mb = (sample: ResourceSample) => sample.rssMb.toFixed(1);
  const rss = `RSS ${mb(baseline)} → ${mb(last)} MB (largest drift ${percent(track.rssDrift)})`;
  const fds = `fds ${baseline.fds} → ${last.fds} (largest drift ${percent(track.fdDrift)})`;
  return `berth pid ${track.pid}: ${rss}, ${fds}`;
}

async function prepare(dir: string, cleanups: (() => Promise<unknown>)[]): Promise<Soak> {
  const project = `soak-${process.pid}`;
  const modules = soakModules(moduleCount);
  const configFile = join(dir, 'docker.yaml');
  await writeFile(configFile, dockerYaml(project, modules));
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), new Dockerode()), buildService()]);
  const engine = await startSecondEngine();
  cleanups.push(() => engine.dispose());
  const ownImages = modules.filter((module) => module.ownImage);
  for (const module of ownImages.slice(0, -initiallyUntagged)) await tagOwnImage(engine.docker, module);
  const command = await serviceCommand();
  const port = await freePort();
  const logFile = join(dir, 'berth.log');
  const berth = new BerthProcess({ command, configFile, port, engineSocket: engine.socketPath, logFile });
  cleanups.push(() => berth.kill());
  await berth.start();
  const subscribers = new Subscribers();
  cleanups.push(async () => subscribers.close());
  subscribers.subscribe(berth.graphqlUrl.replace(/^http/, 'ws'), modules.map(({ name }) => name));
  return { project, modules, engine, berth, subscribers, drivenMs: 0, warmUpMs: 0, tracks: [], tally: emptyTally() };
}

async function soak(minutes: number, dir: string, cleanups: (() => Promise<unknown>)[]): Promise<string[]> {
  const totalMs = minutes * 60_000;
  const soak = await prepare(dir, cleanups);
  soak.warmUpMs = Math.min(60_000, totalMs / 4);
  soak.tracks.push({ pid: soak.berth.pid, warmAtMs: soak.warmUpMs });
  say(soak, `berth (pid ${soak.berth.pid}) ready at ${soak.berth.graphqlUrl}; ${subscriberCount} subscribers connect`);
  await quietPoint(soak);
  // A client of its own with a timeout: a call in flight when the engine stops must not hold a worker forever.
  const driverDocker = new Dockerode({ socketPath: soak.engine.socketPath, timeout: 30_000 });
  const { project, modules, berth } = soak;
  const onOddAnswer = (module: string, history: string[]) => {
    say(soak, `odd answer on ${module}; its last actions:\n${history.map((line) => `      ${line}`).join('\n')}`);
  };
  soak.driver = startDriver({ docker: driverDocker, project, modules, graphqlUrl: berth.graphqlUrl, onOddAnswer });
  cleanups.push(() => soak.driver!.stop());
  await runSchedule(soak, schedule(totalMs));
  await soak.driver.stop();
  const failures = report(soak, minutes, await soak.subscribers.snapshot());
  if (failures.length > 0) console.log(`berth's log (last lines):\n${await logTail(join(dir, 'berth.log'))}`);
  return failures;
}

async function logTail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-20).join('\n');
}

async function main(): Promise<void> {
  const minutes = readMinutes();
  const dir = await mkdtemp(join(tmpdir(), 'berth-soak-'));
  const cleanups: (() => Promise<unknown>)[] = [async () => rm(dir, { recursive: true, force: true })];
  let cleaning: Promise<void> | undefined;
  // Last registered, first undone: the driver, the subscribers, berth, the engine, the folder.
  const cleanUp = () =>
    (cleaning ??= (async () => {
      for (const cleanup of cleanups.toReversed()) {
        await cleanup().catch((error: unknown) => console.error('cleanup:', error));
      }
    })());
  process.once('SIGINT', () => {
    console.log('interrupted: cleaning up');
    void cleanUp().finally(() => process.exit(130));
  });
  try {
    const failures = await soak(minutes, dir, cleanups);
    console.log(failures.length === 0 ? 'PASS' : `FAIL: ${failures.join(', ')}`);
    process.exitCode = failures.length === 0 ? 0 : 1;
  } finally {
    await cleanUp();
  }
}

await main();
