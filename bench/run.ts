// berth's benchmarks against the raw Docker engine, measured in the same run: `npm run bench`.
// Writes docs/benchmarks.md. Runs berth as a child process, so its RSS is its own.
import type { ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { FrontendModulesDocument, ModuleDetailDocument, StartModuleDocument, StopModuleDocument } from '../test/generated/operations.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { rssMb, startBerth } from './berth-process.ts';
import { benchEngines } from './engines.ts';
import { benchLoad } from './load.ts';
import { benchLogs } from './logs.ts';
import { benchModuleStats } from './module-stats.ts';
import { benchPull } from './pull.ts';
import { benchRecovery } from './recovery.ts';
import { benchSwarm } from './swarm.ts';
import { rawContainer, removeLabelledNetworks } from './raw-container.ts';
import { percentile } from './stats.ts';
import { Subscribers } from './subscriber-process.ts';
import type { SubscribersCommand, SubscribersReport } from './subscribers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const image = 'berth-test/http-env:1.0';
const project = `bench-${process.pid}`;
const docker = new Dockerode();
const moduleCount = 200;

const ms = (value: number) => `${value.toFixed(2)} ms`;
const sleep = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

async function time(action: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await action();
  return performance.now() - start;
}

/**
 * Exactly what `npm start` runs: the compiled service with its node flags, unless
 * BERTH_BENCH_NODE_FLAGS replaces those flags to compare another memory/speed trade-off.
 */
async function berthCommand(): Promise<[string, string[]]> {
  const [program, startArgs] = await serviceCommand();
  const flags = process.env.BERTH_BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean);
  return [program, flags ? [...flags, ...startArgs.filter((arg) => !arg.startsWith('--'))] : startArgs];
}

const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });

/** A POST over node:http with keep-alive: the same kind of client dockerode uses for the engine. */
function post(port: number, query: string, variables?: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ query, variables });
    const call = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent: keepAlive, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => (response.statusCode === 200 ? resolve(text) : reject(new Error(`HTTP ${response.statusCode}: ${text}`))));
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}

async function gql<T, V>(port: number, document: TypedDocumentNode<T, V>, variables: V): Promise<{ data?: T; errors?: unknown[] }> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: print(document), variables }),
  });
  return response.json() as Promise<{ data?: T; errors?: unknown[] }>;
}

/** Below this line docs/benchmarks.md is written by hand (comparisons of two commits), and a new run keeps it. */
const handWritten = '<!-- Written by hand below: npm run bench keeps what follows. -->';

async function writeReport(file: string, lines: readonly string[]): Promise<void> {
  const previous = await readFile(file, 'utf8').catch(() => '');
  const kept = previous.includes(handWritten) ? previous.slice(previous.indexOf(handWritten)) : '';
  // Each section's heading, and the hand-written part, after one blank line, whichever bench wrote the section before.
  const text = `${lines.join('\n')}\n${kept}`.replace(/\n*(\n## |\n<!-- Written by hand)/g, '\n$1');
  await writeFile(file, text);
}

async function main(): Promise<void> {
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), docker), buildService()]);
  const engine = await docker.version();
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const configFile = join(dir, 'docker.yaml');
  const names = Array.from({ length: moduleCount }, (_, index) => `m${index}`);
  await writeFile(
    configFile,
    `project: ${project}\nmodules:\n${names.map((name) => `  ${name}:\n    kind: bench${process.pid}\n    image: ${image}\n    autostart: false\n`).join('')}`,
  );
  const port = 4900 + (process.pid % 90);
  const berthRun = await berthCommand();
  const lines: string[] = [];
  const report = (line = '') => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  let berth: ChildProcess | undefined;
  let subscribers: Subscribers | undefined;
  try {
    berth = await startBerth(berthRun, { configFile, port });
    // 200 modules with a container each: created by berth, all but one left stopped.
    for (const name of names.slice(0, moduleCount)) {
      const created = await gql(port, StartModuleDocument, { name });
      if (created.errors) throw new Error(JSON.stringify(created.errors));
      if (name !== 'm0') await gql(port, StopModuleDocument, { name, timeoutSeconds: 0 });
    }

    report(`# berth benchmarks`);
    report();
    const benchCommand = process.env.BERTH_BENCH_NODE_FLAGS ? `BERTH_BENCH_NODE_FLAGS="${process.env.BERTH_BENCH_NODE_FLAGS}" npm run bench` : 'npm run bench';
    report(`Command: \`${benchCommand}\` (berth runs as \`node ${berthRun[1].filter((arg) => arg.startsWith('--')).join(' ')} dist/main.js\`). Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Docker Engine ${engine.Version} (API ${engine.ApiVersion}). Generated ${new Date().toISOString()}.`);
    report('Every figure is compared with the raw engine measured in the same run.');
    report();

    // a. the frontend query against one engine list call
    const query = print(FrontendModulesDocument);
    for (let warm = 0; warm < 500; warm++) await post(port, query);
    const queryTimes: number[] = [];
    for (let round = 0; round < 2000; round++) queryTimes.push(await time(() => post(port, query)));
    const listTimes: number[] = [];
    for (let round = 0; round < 100; round++) {
      listTimes.push(await time(() => docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } })));
    }
    report(`## a. \`modules\` query, ${moduleCount} modules, over HTTP`);
    report();
    report('Both sides through node:http with keep-alive (dockerode\'s own transport for the engine). The whole response is read.');
    report();
    report('| | p50 | p99 |');
    report('| --- | --- | --- |');
    report(`| berth \`modules\` query (2,000 requests after 500 to warm up) | ${ms(percentile(queryTimes, 50))} | ${ms(percentile(queryTimes, 99))} |`);
    report(`| engine \`GET /containers/json\` (100 calls) | ${ms(percentile(listTimes, 50))} | ${ms(percentile(listTimes, 99))} |`);
    report(`| **list ÷ query** | **${(percentile(listTimes, 50) / percentile(queryTimes, 50)).toFixed(1)}×** | ${(percentile(listTimes, 99) / percentile(queryTimes, 99)).toFixed(1)}× |`);
    report();

    // b. an outside change reaching subscribers, beyond the engine's own event delivery
    const containerId = (await gql(port, ModuleDetailDocument, { name: 'm0' })).data!.module.containerId!;
    const events = (await docker.getEvents({ filters: { type: ['container'], container: [containerId], event: ['start', 'die'] } })) as NodeJS.ReadableStream;
    const engineSeen: number[] = [];
    createInterface({ input: events as never }).on('line', () => engineSeen.push(performance.timeOrigin + performance.now()));
    report('## b. Outside change → subscriber, beyond the engine\'s own event delivery');
    report();
    report(
      'Each trial is a `docker stop`/`docker start` of a module\'s container through the engine API, after 10 trials not kept at each count. A delivery\'s delay runs from the moment the same event reaches a raw engine event listener in this process to the moment a subscriber gets the change. ' +
        '**Per delivery** takes every subscriber\'s delay in every trial (subscribers × trials samples); **all delivered** takes, once per trial, the delay until the last subscriber has it. ' +
        'The subscribers are graphql-ws clients in a separate process (bench/subscribers.ts), so their parsing is not charged to the timing process.',
    );
    report();
    report('| subscribers | trials | per delivery p50 | per delivery p99 | all delivered p50 | all delivered p99 | berth RSS |');
    report('| --- | --- | --- | --- | --- | --- | --- |');
    subscribers = new Subscribers();
    const command = (message: SubscribersCommand) => subscribers!.send(message);
    const reply = <T extends SubscribersReport['type']>(type: T) => subscribers!.reply(type);
    let rssAtThousand = 0;
    const trials = 60;
    const warmUpTrials = 10;
    for (const count of [1, 100, 1000]) {
      command({ type: 'subscribe', url: `ws://127.0.0.1:${port}/graphql`, count, module: 'm0' });
      await reply('subscribed');
      await sleep(500);
      const deliveries: number[] = [];
      const allDelivered: number[] = [];
      // The first trials at each count are not kept: the delivery path of that many subscribers is still being compiled.
      for (let trial = -warmUpTrials; trial < trials; trial++) {
        const running = trial % 2 !== 0;
        command({ type: 'expect', status: running ? 'RUNNING' : 'EXITED' });
        const before = engineSeen.length;
        const arrived = reply('arrived');
        if (running) await docker.getContainer(containerId).start();
        else await docker.getContainer(containerId).stop({ t: 0 });
        const { times } = await arrived;
        while (engineSeen.length === before) await sleep(1);
        const seen = engineSeen[before]!;
        if (trial >= 0) {
          for (const time of times) deliveries.push(time - seen);
          allDelivered.push(Math.max(...times) - seen);
        }
        await sleep(50);
      }
      const rss = await rssMb(berth.pid!);
      if (count === 1000) rssAtThousand = rss;
      report(
        `| ${count} | ${trials} | ${ms(percentile(deliveries, 50))} | ${ms(percentile(deliveries, 99))} | ${ms(percentile(allDelivered, 50))} | ${ms(percentile(allDelivered, 99))} | ${rss.toFixed(0)} MB |`,
      );
    }
    (events as unknown as { destroy(): void }).destroy();
    report();

    // c. startModule against a raw start of an equivalent container
    const rawStarts: number[] = [];
    const berthStarts: number[] = [];
    const startTrials = 40;
    const startModule = print(StartModuleDocument);
    for (let trial = 0; trial < startTrials; trial++) {
      // Both sides start a container that has run once and is stopped, one after the other, taking turns at going first.
      const raw = await rawContainer(docker, { image, name: `bench-raw-${process.pid}-${trial}`, network: `bench-raw-${process.pid}`, labels: { 'bench.raw': project } });
      const name = names[1 + trial]!;
      // node:http with keep-alive on both sides, as in a.
      const berthStart = async () => {
        let answer = '';
        const took = await time(async () => (answer = await post(port, startModule, { name })));
        if ((JSON.parse(answer) as { data?: { startModule?: { status?: string } } }).data?.startModule?.status !== 'RUNNING') throw new Error(`startModule ${name}: ${answer}`);
        return took;
      };
      const rawStart = () => time(() => raw.start());
      if (trial % 2 === 0) {
        berthStarts.push(await berthStart());
        rawStarts.push(await rawStart());
      } else {
        rawStarts.push(await rawStart());
        berthStarts.push(await berthStart());
      }
    }
    const ratio = percentile(berthStarts, 50) / percentile(rawStarts, 50);
    // Each trial's pair ran back to back on equivalent containers: its ratio leaves out the engine's drift across trials.
    const pairedRatio = percentile(berthStarts.map((berthTime, trial) => berthTime / rawStarts[trial]!), 50);
    report('## c. `startModule` against a raw dockerode start');
    report();
    report('Existing stopped containers; berth\'s figure is the whole GraphQL mutation over HTTP (lock, engine calls, state refresh), the raw one `POST /containers/{id}/start` on an equivalent container (on a user-defined bridge network with an alias, as a module\'s container is on `<project>_default`). The two take turns at going first.');
    report();
    report('| | trials | p50 | p99 |');
    report('| --- | --- | --- | --- |');
    report(`| berth \`startModule\` | ${startTrials} | ${ms(percentile(berthStarts, 50))} | ${ms(percentile(berthStarts, 99))} |`);
    report(`| raw start | ${startTrials} | ${ms(percentile(rawStarts, 50))} | ${ms(percentile(rawStarts, 99))} |`);
    report(`| **ratio (p50)** | | **${ratio.toFixed(3)}** | |`);
    report(`| ratio within each trial's pair (median of ${startTrials}) | | ${pairedRatio.toFixed(3)} | |`);
    report();
    report('## d. Memory');
    report();
    report(`berth's RSS with 1,000 graphql-ws subscribers connected and subscribed: **${rssAtThousand.toFixed(0)} MB**.`);
    report();
    for (const line of await benchRecovery({ command: berthRun })) report(line);
    for (const line of await benchPull({ command: berthRun })) report(line);
    for (const line of await benchLoad({ command: berthRun })) report(line);
    for (const line of await benchModuleStats({ command: berthRun })) report(line);
    for (const line of await benchLogs({ command: berthRun })) report(line);
    for (const line of await benchEngines({ command: berthRun })) report(line);
    for (const line of await benchSwarm({ command: berthRun })) report(line);
    if (!process.env.BERTH_BENCH_NODE_FLAGS) await writeReport(join(root, 'docs/benchmarks.md'), lines);
  } finally {
    subscribers?.close();
    berth?.kill('SIGTERM');
    const leftovers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
    const raw = await docker.listContainers({ all: true, filters: { label: [`bench.raw=${project}`] } });
    await Promise.all([...leftovers, ...raw].map((container) => docker.getContainer(container.Id).remove({ force: true })));
    await removeLabelledNetworks(docker, `bench.raw=${project}`);
    await removeLabelledNetworks(docker, `berth.project=${project}`);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
