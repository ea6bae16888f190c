// How soon berth serves again after its engine comes back: `npm run bench:recovery` alone, and part of `npm run bench`.
// The engine is a second dockerd of the bench's own (test/integration/second-engine.ts), never the main one.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { StartModuleDocument } from '../test/generated/operations.ts';
import { startSecondEngine, type SecondEngine } from '../test/integration/second-engine.ts';
import { freePort, startBerth, stopBerth } from './berth-process.ts';
import { rawContainer } from './raw-container.ts';
import { percentile } from './stats.ts';

const image = 'berth-test/http-env:1.0';
const pollMs = 10;
const trialDeadlineMs = 120_000;
const targetMs = 1_000;

export interface RecoveryOptions {
  /** How long the engine stays stopped in each series, in seconds; default 2, 15 and 60. */
  durations?: number[];
  /** Trials per duration; default 5. */
  trials?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command (scripts/service-command.ts). */
  command?: [string, string[]];
  /** Ends the run early; the engine and berth are cleaned up all the same. */
  signal?: AbortSignal;
}

interface Trial {
  /** engine answering → first startModule that answers RUNNING */
  started: number;
  /** engine answering → first 200 from /ready */
  ready: number;
  /** the successful startModule call alone */
  lastCall: number;
  /** startModule calls refused before that one */
  refused: number;
  /** a raw start of an equivalent container on the same engine, just after */
  rawStart: number;
}

interface Series {
  seconds: number;
  trials: Trial[];
}

interface Bench {
  engine: SecondEngine;
  port: number;
  raw: Dockerode.Container;
  signal: AbortSignal | undefined;
}

const ms = (value: number) => `${value.toFixed(0)} ms`;
const median = (values: number[]) => percentile(values, 50);

/** Runs the recovery benchmark and returns its section of docs/benchmarks.md, one line per element. */
export async function benchRecovery(options: RecoveryOptions = {}): Promise<string[]> {
  const { durations = [2, 15, 60], trials = 5, signal } = options;
  const command = options.command ?? (await serviceCommand());
  const dir = await mkdtemp(join(tmpdir(), 'berth-recovery-'));
  let engine: SecondEngine | undefined;
  let berth: ChildProcess | undefined;
  try {
    engine = await startSecondEngine();
    const port = await freePort();
    // Its log is left out: every refused startModule logs an error with its stack, many per outage.
    berth = await startBerth(command, { configFile: await writeConfig(dir), port, env: { DOCKER_HOST: `unix://${engine.socketPath}` }, log: 'ignore' });
    const bench: Bench = { engine, port, raw: await rawContainer(engine.docker, { image, name: 'recovery-raw', network: 'recovery-raw' }), signal };
    const results: Series[] = [];
    for (const seconds of durations) results.push({ seconds, trials: await series(bench, seconds, trials) });
    return section(results, (await engine.docker.version()).Version);
  } finally {
    await cleanUp(engine, berth, dir);
  }
}

async function writeConfig(dir: string): Promise<string> {
  const file = join(dir, 'docker.yaml');
  const web = `  web:\n    kind: http\n    image: ${image}\n    autostart: false\n`;
  await writeFile(file, `project: recovery\nmodules:\n${web}`);
  return file;
}

async function series(bench: Bench, seconds: number, count: number): Promise<Trial[]> {
  const trials: Trial[] = [];
  for (let index = 0; index < count; index++) {
    const trial = await runTrial(bench, seconds);
    process.stderr.write(
      `recovery: engine stopped ${seconds} s, trial ${index + 1}/${count}: startModule +${ms(trial.started)}, ` +
        `/ready +${ms(trial.ready)}, ${trial.refused} refused before\n`,
    );
    trials.push(trial);
  }
  return trials;
}

/** One outage: `web` running, the engine stopped for `seconds`, started again, berth asked until it starts `web`. */
async function runTrial({ engine, port, raw, signal }: Bench, seconds: number): Promise<Trial> {
  await startWeb(port, performance.now() + trialDeadlineMs, signal);
  await engine.stop();
  const stoppedAt = Date.now();
  await sleep(seconds * 1000, undefined, { signal });
  const answered = await engineBack(engine, signal);
  const [started, ready] = await Promise.all([
    startWeb(port, answered + trialDeadlineMs, signal),
    readyAgain(port, answered + trialDeadlineMs, signal),
  ]);
  await mustHaveStarted(engine.docker, started.containerId, stoppedAt);
  const rawStart = await timeRawStart(raw);
  return {
    started: started.at - answered,
    ready: ready - answered,
    lastCall: started.at - started.sentAt,
    refused: started.refused,
    rawStart,
  };
}

/** Starts the engine and answers the first moment it answers a ping, polled every 10 ms. */
export async function engineBack(engine: SecondEngine, signal?: AbortSignal): Promise<number> {
  const starting = engine.start();
  // start() rejects when dockerd dies; it resolves only after answering, when the polling below has its answer too.
  const failed = starting.then(() => new Promise<never>(() => {}));
  const probe = new Dockerode({ socketPath: engine.socketPath });
  const answered = await Promise.race([firstAnswer(probe, signal), failed]);
  await starting;
  return answered;
}

async function firstAnswer(probe: Dockerode, signal?: AbortSignal): Promise<number> {
  const deadline = performance.now() + trialDeadlineMs;
  while (performance.now() < deadline) {
    const answered = await probe.ping().then(() => performance.now(), () => undefined);
    if (answered !== undefined) return answered;
    await sleep(pollMs, undefined, { signal });
  }
  throw new Error(`the engine did not answer within ${trialDeadlineMs} ms of its start`);
}

interface Started {
  at: number;
  sentAt: number;
  refused: number;
  containerId: string;
}

/** Calls startModule until one answers RUNNING, 10 ms after each refusal. */
async function startWeb(port: number, deadline: number, signal?: AbortSignal): Promise<Started> {
  let lastAnswer = '';
  for (let refused = 0; performance.now() < deadline; refused++) {
    const sentAt = performance.now();
    lastAnswer = await startModule(port).catch((error: unknown) => String(error));
    const at = performance.now();
    const module = parseStart(lastAnswer);
    const containerId = module?.status === 'RUNNING' ? module.containerId : undefined;
    if (containerId) return { at, sentAt, refused, containerId };
    await sleep(pollMs, undefined, { signal });
  }
  throw new Error(`startModule did not answer RUNNING in time; last answer: ${lastAnswer}`);
}

async function startModule(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: print(StartModuleDocument), variables: { name: 'web' } }),
  });
  return response.text();
}

interface StartAnswer {
  data?: { startModule?: { status?: string; containerId?: string | null } };
}

function parseStart(answer: string): NonNullable<StartAnswer['data']>['startModule'] {
  try {
    return (JSON.parse(answer) as StartAnswer).data?.startModule;
  } catch {
    return undefined;
  }
}

async function readyAgain(port: number, deadline: number, signal?: AbortSignal): Promise<number> {
  while (performance.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/ready`).then((response) => response.ok, () => false);
    if (ok) return performance.now();
    await sleep(pollMs, undefined, { signal });
  }
  throw new Error(`/ready did not answer 200 within ${trialDeadlineMs} ms of the engine answering`);
}

/** A RUNNING answer counts only if the engine really started the container after the outage began. */
async function mustHaveStarted(docker: Dockerode, containerId: string, stoppedAt: number): Promise<void> {
  const { State } = await docker.getContainer(containerId).inspect();
  if (!State.Running || Date.parse(State.StartedAt) < stoppedAt) {
    const actual = `${State.Status}, started ${State.StartedAt}`;
    throw new Error(`startModule answered RUNNING, but the engine's container is ${actual}`);
  }
}

/** An equivalent container outside berth, created and run once, stopped between trials. */
async function timeRawStart(raw: Dockerode.Container): Promise<number> {
  const begin = performance.now();
  await raw.start();
  const took = performance.now() - begin;
  await raw.stop({ t: 0 });
  return took;
}

async function cleanUp(engine: SecondEngine | undefined, berth: ChildProcess | undefined, dir: string): Promise<void> {
  await stopBerth(berth);
  try {
    await engine?.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function section(results: Series[], engineVersion: string): string[] {
  const lines = [
    '## e. Recovery after an engine outage',
    '',
    `Each trial starts the module \`web\` (${image}, no ports) with \`startModule\`, stops berth's engine (a second ` +
      `dockerd of the bench's own, Docker Engine ${engineVersion}: SIGTERM, which also stops the container) for the ` +
      'given time, and starts it again while pinging it every 10 ms. From the first ping the engine answers, ' +
      '`startModule` is called over HTTP, 10 ms after each refusal, until one answers `RUNNING` (the engine is ' +
      'checked to have really started the container), and `/ready` is polled every 10 ms until it answers 200. ' +
      '**Its own call** is the successful `startModule` alone; **raw start** a dockerode start of an equivalent ' +
      `container on the same engine just after. Target: the max of startModule ≤ ${targetMs / 1000} s.`,
    '',
    '| engine stopped | trials | startModule p50 | startModule max | /ready p50 | /ready max | its own call p50 | ' +
      'raw start p50 | max ≤ 1 s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const { seconds, trials } of results) lines.push(row(seconds, trials));
  return lines;
}

function row(seconds: number, trials: Trial[]): string {
  const of = (key: keyof Trial) => trials.map((trial) => trial[key]);
  const max = Math.max(...of('started'));
  const cells = [
    `${seconds} s`,
    trials.length,
    ms(median(of('started'))),
    ms(max),
    ms(median(of('ready'))),
    ms(Math.max(...of('ready'))),
    ms(median(of('lastCall'))),
    ms(median(of('rawStart'))),
    max <= targetMs ? 'met' : '**not met**',
  ];
  return `| ${cells.join(' | ')} |`;
}

function readOptions(): { durations: number[]; trials: number } {
  const { values } = parseArgs({
    options: { durations: { type: 'string', default: '2,15,60' }, trials: { type: 'string', default: '5' } },
  });
  const durations = values.durations.split(',').map(Number);
  const trials = Number(values.trials);
  if (durations.some((value) => !(value >= 0)) || !(Number.isInteger(trials) && trials > 0)) {
    throw new Error('usage: npm run bench:recovery -- [--durations 2,15,60] [--trials 5]');
  }
  return { durations, trials };
}

async function main(): Promise<void> {
  const options = readOptions();
  const root = fileURLToPath(new URL('..', import.meta.url));
  const docker = new Dockerode();
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), docker), buildService()]);
  const [program, args] = await serviceCommand();
  const abort = new AbortController();
  for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => abort.abort(new Error(`${name}: stopped`)));
  const [heading, ...lines] = await benchRecovery({ ...options, command: [program, args], signal: abort.signal });
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const flags = process.argv.slice(2);
  const run = ['npm run bench:recovery', ...(flags.length > 0 ? ['--', ...flags] : [])].join(' ');
  const generated = `Generated ${new Date().toISOString()}`;
  const about = `Command: \`${run}\`. Machine: ${machine}, Node ${process.version}. ${generated}.`;
  process.stdout.write(`${[heading, '', about, ...lines].join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
