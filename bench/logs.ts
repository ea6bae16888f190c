// Log throughput to one follower: `moduleLogs` over graphql-ws against `docker logs -f`, both following the
// same container while it prints as fast as it can, in the same run. Alone: npm run bench:logs -- [--lines 200000]
// [--trials 3]; the lead calls benchLogs() from bench/run.ts. The section it writes has no letter yet.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import WebSocket from 'ws';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { ModuleLogsDocument, StartModuleDocument } from '../test/generated/operations.ts';
import { freePort, startBerth, stopBerth } from './berth-process.ts';
import { percentile } from './stats.ts';

const image = 'berth-test/http-env:1.0';
const targetRatio = 0.8;
/** 64 characters a line, as a busy service's log lines go. */
const benchLine = 'GET /api/v1/items?page=17 200 1532 bytes in 2.4 ms from 10.0.0.7';

export interface LogsBenchOptions {
  /** Lines the container prints in each trial; default 200,000. */
  lines?: number;
  /** Trials; default 3. */
  trials?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command (scripts/service-command.ts). */
  command?: [string, string[]];
}

/** What one follower saw of one trial. */
interface Follow {
  /** Bench lines delivered. */
  lines: number;
  /** Lines berth said it dropped (the follower did not keep up); 0 for the CLI. */
  dropped: number;
  /** From the first bench line to the line after the last, in ms. */
  ms: number;
}

interface Trial {
  berth: Follow;
  cli: Follow;
}

/** Runs the log benchmark and returns its section of docs/benchmarks.md, one line per element. */
export async function benchLogs(options: LogsBenchOptions = {}): Promise<string[]> {
  const { lines = 200_000, trials = 3 } = options;
  const command = options.command ?? (await serviceCommand());
  const docker = new Dockerode();
  const project = `bench-logs-${process.pid}`;
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-logs-'));
  let berth: ChildProcess | undefined;
  try {
    const port = await freePort();
    berth = await startBerth(command, { port, configFile: await writeConfig(dir, project, lines) });
    const results: Trial[] = [];
    for (let index = 0; index < trials; index++) {
      const trial = await runTrial(docker, port, lines);
      process.stderr.write(`logs: trial ${index + 1}/${trials}: moduleLogs ${rate(trial.berth)} lines/s (${trial.berth.dropped} dropped), docker logs -f ${rate(trial.cli)} lines/s\n`);
      results.push(trial);
    }
    return section(results, lines, (await docker.version()).Version);
  } finally {
    await stopBerth(berth);
    await removeProject(docker, project);
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The printer waits, saying "ready" five times a second, until /go exists; then prints `lines` lines as fast
 * as `yes` can, then "end", and idles. A start runs it afresh in a new container (each trial removes the last).
 */
async function writeConfig(dir: string, project: string, lines: number): Promise<string> {
  const script = [
    'trap "exit 0" TERM',
    'while [ ! -e /go ]; do echo ready; sleep 0.2; done',
    `yes '${benchLine}' | head -n ${lines}`,
    'echo end',
    'while true; do sleep 1 & wait $!; done',
  ].join('; ');
  const file = join(dir, 'docker.yaml');
  await writeFile(file, `project: ${project}\nmodules:\n  printer:\n    kind: bench\n    image: ${image}\n    autostart: false\n    command: ["sh", "-c", ${JSON.stringify(script)}]\n`);
  return file;
}

/** One trial: a new printer container, both followers attached, then the go. */
async function runTrial(docker: Dockerode, port: number, lines: number): Promise<Trial> {
  const containerId = await startPrinter(port);
  const berth = await followBerth(port);
  const cli = followCli(containerId);
  try {
    await Promise.all([berth.ready, cli.ready]);
    await touchGo(docker, containerId);
    const [berthFollow, cliFollow] = await Promise.all([berth.done, cli.done]);
    const elapsed = ({ lines, dropped, first, end }: Followed) => ({ lines, dropped, ms: end - first });
    if (cliFollow.lines !== lines) throw new Error(`docker logs -f read ${cliFollow.lines} lines of ${lines}`);
    if (berthFollow.lines + berthFollow.dropped !== lines) throw new Error(`moduleLogs delivered ${berthFollow.lines} and dropped ${berthFollow.dropped} of ${lines}`);
    return { berth: elapsed(berthFollow), cli: elapsed(cliFollow) };
  } finally {
    berth.close();
    cli.close();
    await docker.getContainer(containerId).remove({ force: true });
  }
}

/** The go: a detached exec, whose connection the engine leaves open. */
async function touchGo(docker: Dockerode, containerId: string): Promise<void> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ['touch', '/go'] });
  const answer = (await exec.start({ Detach: true })) as { destroy?: () => void };
  answer.destroy?.();
}

async function startPrinter(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: print(StartModuleDocument), variables: { name: 'printer' } }),
  });
  const answer = (await response.json()) as { data?: { startModule?: { containerId?: string | null } } };
  const containerId = answer.data?.startModule?.containerId;
  if (!containerId) throw new Error(`startModule printer: ${JSON.stringify(answer)}`);
  return containerId;
}

/** What a follower received: bench lines, lines dropped, when the first bench line and the end line came. */
interface Followed {
  lines: number;
  dropped: number;
  first: number;
  end: number;
}

interface Follower {
  /** Resolves at the first "ready" line: the follower is attached. */
  ready: Promise<void>;
  /** Resolves at the "end" line. */
  done: Promise<Followed>;
  close(): void;
}

/** What the bench looks for in a graphql-ws message, as bytes: a bench line, and one with no lines dropped before it. */
const marks = { line: Buffer.from(`"text":"${benchLine}"`), noneDropped: Buffer.from('"dropped":0}') };

/**
 * moduleLogs over graphql-ws, with the protocol spoken directly and each message looked at as bytes, so
 * that the client's own cost stays small, as the docker CLI's is.
 */
async function followBerth(port: number): Promise<Follower> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init' }));
  let lines = 0;
  let dropped = 0;
  let first = 0;
  const ready = Promise.withResolvers<void>();
  const done = Promise.withResolvers<Followed>();
  const fail = (error: Error) => {
    ready.reject(error);
    done.reject(error);
  };
  socket.on('message', (data: Buffer) => {
    if (data.includes(marks.line)) {
      first ||= performance.now();
      lines++;
      if (!data.includes(marks.noneDropped)) dropped += Number(/"dropped":(\d+)/.exec(data.toString())?.[1] ?? 0);
      return;
    }
    const text = data.toString();
    if (text.includes('"type":"connection_ack"')) {
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: print(ModuleLogsDocument), variables: { name: 'printer', tail: 0 } } }));
    } else if (!text.includes('"type":"next"')) {
      fail(new Error(`moduleLogs ended: ${text}`));
    } else if (text.includes('"text":"ready"')) {
      ready.resolve();
    } else if (text.includes('"text":"end"')) {
      dropped += Number(/"dropped":(\d+)/.exec(text)?.[1] ?? 0);
      done.resolve({ lines, dropped, first, end: performance.now() });
    }
  });
  socket.on('close', (code) => fail(new Error(`the graphql-ws connection closed (${code})`)));
  // Settled early (a refusal), they are awaited later.
  ready.promise.catch(() => {});
  done.promise.catch(() => {});
  return { ready: ready.promise, done: done.promise, close: () => socket.close() };
}

/** `docker logs -f` on the same container, its output counted line by line. */
function followCli(containerId: string): Follower {
  const child = spawn('docker', ['logs', '--follow', '--tail', '0', containerId], { stdio: ['ignore', 'pipe', 'inherit'] });
  let lines = 0;
  let first = 0;
  let partial = '';
  const ready = Promise.withResolvers<void>();
  const done = Promise.withResolvers<Followed>();
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      if (line === benchLine) {
        first ||= performance.now();
        lines++;
      }
      else if (line === 'ready') ready.resolve();
      else if (line === 'end') done.resolve({ lines, dropped: 0, first, end: performance.now() });
    }
  });
  child.once('exit', (code) => {
    ready.reject(new Error(`docker logs -f exited with ${code}`));
    done.reject(new Error(`docker logs -f exited with ${code}`));
  });
  ready.promise.catch(() => {});
  done.promise.catch(() => {});
  return { ready: ready.promise, done: done.promise, close: () => child.kill() };
}

const rate = (follow: Follow) => Math.round(follow.lines / (follow.ms / 1000));

function section(trials: Trial[], lines: number, engineVersion: string): string[] {
  const median = (values: number[]) => percentile(values, 50);
  const berthRates = trials.map((trial) => rate(trial.berth));
  const cliRates = trials.map((trial) => rate(trial.cli));
  const ratios = trials.map((trial) => rate(trial.berth) / rate(trial.cli));
  const ratio = median(ratios);
  const count = (value: number) => value.toLocaleString('en-US');
  return [
    '## i. Log throughput to one follower',
    '',
    `Each trial starts a new container (${image}, Docker Engine ${engineVersion}) that prints ${count(lines)} lines of ` +
      `${benchLine.length} characters as fast as \`yes\` can, once two followers are attached to it: \`moduleLogs(tail: 0)\` ` +
      "over graphql-ws (one subscriber, the protocol spoken directly by the bench) and `docker logs -f --tail 0`. Each " +
      'follower\'s rate is the lines it received over the time from its first bench line to the line after the last. ' +
      'Both read the same log at the same time, as fast as the engine serves it. A line berth dropped for a slow ' +
      'subscriber would be counted in its column, not as delivered; a trial fails unless every line was one or the ' +
      `other. Target: the ratio ≥ ${targetRatio}.`,
    '',
    '| trial | moduleLogs lines/s | dropped | docker logs -f lines/s | ratio |',
    '| --- | --- | --- | --- | --- |',
    ...trials.map((trial, index) => `| ${index + 1} | ${count(rate(trial.berth))} | ${count(trial.berth.dropped)} | ${count(rate(trial.cli))} | ${ratios[index]!.toFixed(2)} |`),
    `| **median** | **${count(median(berthRates))}** | | **${count(median(cliRates))}** | **${ratio.toFixed(2)}** (${ratio >= targetRatio ? 'met' : '**not met**'}) |`,
  ];
}

/** The bench's containers and the network berth made for them. */
async function removeProject(docker: Dockerode, project: string): Promise<void> {
  const filters = { label: [`berth.project=${project}`] };
  const containers = await docker.listContainers({ all: true, filters });
  await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
  const networks = await docker.listNetworks({ filters });
  await Promise.all(networks.map((network) => docker.getNetwork(network.Id).remove()));
}

function readOptions(): Required<Pick<LogsBenchOptions, 'lines' | 'trials'>> {
  const { values } = parseArgs({ options: { lines: { type: 'string', default: '200000' }, trials: { type: 'string', default: '3' } } });
  const lines = Number(values.lines);
  const trials = Number(values.trials);
  if (!(Number.isInteger(lines) && lines > 0 && Number.isInteger(trials) && trials > 0)) throw new Error('usage: npm run bench:logs -- [--lines 200000] [--trials 3]');
  return { lines, trials };
}

async function main(): Promise<void> {
  const options = readOptions();
  const root = fileURLToPath(new URL('..', import.meta.url));
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), new Dockerode()), buildService()]);
  const [heading, ...lines] = await benchLogs(options);
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  const flags = process.argv.slice(2);
  const about = `Command: \`npm run bench:logs${flags.length > 0 ? ` -- ${flags.join(' ')}` : ''}\`. Machine: ${machine}, Node ${process.version}. Generated ${new Date().toISOString()}.`;
  process.stdout.write(`${[heading, '', about, ...lines].join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
