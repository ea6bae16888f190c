// berth's benchmarks, each figure next to its floor (a bare Node server, the raw engine) measured in
// the same run: `npm run bench`. Writes docs/benchmarks.md. Runs berth as a child process, so its RSS
// is its own. `npm run bench -- --only a,c` runs those sections and keeps the others' last figures.
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { ModuleDetailDocument } from '../test/generated/operations.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { freePort, startBerth, stopBerth } from './berth-process.ts';
import { benchDelivery, deliveryReport, memoryReport, type DeliveryRow } from './delivery.ts';
import { benchEngines } from './engines.ts';
import { post } from './http-post.ts';
import { benchLoad } from './load.ts';
import { benchLogs } from './logs.ts';
import { benchManyModules } from './many-modules.ts';
import { benchModuleStats } from './module-stats.ts';
import { benchPull } from './pull.ts';
import { benchQuery, queryReport, type QueryRow } from './query.ts';
import { benchRecovery } from './recovery.ts';
import { rawContainer, removeLabelledNetworks } from './raw-container.ts';
import { benchStart, startReport } from './start.ts';
import { benchStorm } from './storm.ts';
import { withOpenFileLimit } from './subscriber-process.ts';
import { benchSwarm } from './swarm.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const image = 'berth-test/http-env:1.0';
const project = `bench-${process.pid}`;
const docker = new Dockerode();
const allSections = 'abcdefghijklm';

const { values } = parseArgs({
  options: {
    /** Sections to run, `a,b,…`; the others keep their last figures in docs/benchmarks.md. */
    only: { type: 'string', default: allSections.split('').join(',') },
    /** The largest subscriber count of b and d (1, 100, 1,000, 10,000 up to it). */
    'max-subscribers': { type: 'string', default: '10000' },
    /** How many modules section m's storm stops at once: 200 by default, the issue's 1,000 with --storm-modules 1000. */
    'storm-modules': { type: 'string', default: '200' },
    /** What else ran on the machine, written under each section run. */
    beside: { type: 'string' },
  },
});
const sections = new Set(values.only.split(',').map((section) => section.trim()));
const unknown = [...sections].filter((section) => !allSections.includes(section) || section.length !== 1);
if (unknown.length > 0) throw new Error(`--only: unknown sections ${unknown.join(', ')}; the sections are ${allSections.split('').join(', ')}`);
const subscriberCounts = [1, 100, 1000, 10_000].filter((count) => count <= Number(values['max-subscribers']));
const memoryCounts = [1000, 10_000];

/**
 * Exactly what `npm start` runs: the compiled service with its node flags, unless
 * BERTH_BENCH_NODE_FLAGS replaces those flags to compare another memory/speed trade-off.
 */
async function berthCommand(): Promise<[string, string[]]> {
  const [program, startArgs] = await serviceCommand();
  const flags = process.env.BERTH_BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean);
  return [program, flags ? [...flags, ...startArgs.filter((arg) => !arg.startsWith('--'))] : startArgs];
}

/** Below this line docs/benchmarks.md is written by hand (comparisons of two commits), and a new run keeps it. */
const handWritten = '<!-- Written by hand below: npm run bench keeps what follows. -->';

/** The generated part of a report by section letter (`''` for the heading before the first section). */
function sectionsOf(text: string): Map<string, string> {
  const generated = text.includes(handWritten) ? text.slice(0, text.indexOf(handWritten)) : text;
  const parts = new Map<string, string>();
  for (const part of generated.split(/\n(?=## )/)) parts.set(/^## ([a-z])\./.exec(part)?.[1] ?? '', part.trim());
  return parts;
}

/** Writes the sections run; those not run, the heading of a partial run and the hand-written part stay as they were. */
async function writeReport(file: string, lines: readonly string[], complete: boolean): Promise<void> {
  const previous = await readFile(file, 'utf8').catch(() => '');
  const kept = previous.includes(handWritten) ? previous.slice(previous.indexOf(handWritten)) : '';
  const [before, now] = [sectionsOf(previous), sectionsOf(lines.join('\n'))];
  const merged = new Map([...before, ...now]);
  if (!complete && before.has('')) merged.set('', before.get('')!);
  const order = [...merged.keys()].sort();
  await writeFile(file, `${order.map((key) => merged.get(key)).join('\n\n')}\n\n${kept}`);
}

/** startModules then stopModules over HTTP, 20 at a time: each module gets a container, stopped. */
async function createStopped(port: number, names: readonly string[]): Promise<void> {
  for (let at = 0; at < names.length; at += 20) {
    const batch = names.slice(at, at + 20);
    const started = await post(port, 'mutation ($names: [String!]!) { startModules(names: $names) { name } }', { names: batch });
    if (started.includes('"errors"')) throw new Error(`startModules: ${started}`);
    const stopped = await post(port, 'mutation ($names: [String!]!) { stopModules(names: $names, timeoutSeconds: 0) { name } }', { names: batch });
    if (stopped.includes('"errors"')) throw new Error(`stopModules: ${stopped}`);
  }
}

async function writeConfig(dir: string, projectName: string, count: number): Promise<string> {
  const file = join(dir, `${projectName}.yaml`);
  const names = Array.from({ length: count }, (_, index) => `m${index}`);
  await writeFile(file, `project: ${projectName}\nmodules:\n${names.map((name) => `  ${name}:\n    kind: bench${process.pid}\n    image: ${image}\n    autostart: false\n`).join('')}`);
  return file;
}

async function removeProject(projectName: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${projectName}`] } });
  await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
  await removeLabelledNetworks(docker, `berth.project=${projectName}`);
}

/**
 * m1… get copies of m0's container (created by berth, run once, stopped), made through the engine API
 * and never started: on the shared benchmark machine berth's own start and stop of 1,000 containers
 * took most of an hour. Their `berth.spec` labels are m0's, so berth sees them drifted; the `modules`
 * query does not read drift.
 */
async function copyContainer(projectName: string, count: number): Promise<void> {
  const [first] = await docker.listContainers({ all: true, filters: { label: [`berth.project=${projectName}`, 'berth.module=m0'] } });
  const template = await docker.getContainer(first!.Id).inspect();
  const network = template.HostConfig.NetworkMode!;
  const copy = (index: number) =>
    docker.createContainer({
      name: template.Name.replace(/^\/m0_/, `m${index}_`),
      Image: template.Config.Image,
      Labels: { ...template.Config.Labels, 'berth.module': `m${index}` },
      HostConfig: { NetworkMode: network },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [`m${index}`] } } },
    });
  // Four at a time: the engine is shared with other work.
  for (let index = 1; index < count; index += 4) await Promise.all([0, 1, 2, 3].filter((offset) => index + offset < count).map((offset) => copy(index + offset)));
}

/** `count` modules of `projectName` declared, each with a stopped container on the engine (sections a and l); answers the docker.yaml. */
async function populate(berthRun: [string, string[]], dir: string, projectName: string, count: number): Promise<string> {
  const configFile = await writeConfig(dir, projectName, count);
  const port = await freePort();
  let berth: ChildProcess | undefined;
  try {
    // A thousand modules' first sync finds no containers, but a loaded machine may take longer than the default.
    berth = await startBerth(berthRun, { configFile, port, log: 'ignore', readyWithinMs: 120_000 });
    await createStopped(port, ['m0']);
  } finally {
    await stopBerth(berth);
  }
  const started = performance.now();
  await copyContainer(projectName, count);
  process.stdout.write(`${projectName}: ${count} containers in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  return configFile;
}

/** A berth of its own holding `count` modules with a stopped container each, for section a. */
async function queryAt(berthRun: [string, string[]], dir: string, count: number, requests: number): Promise<QueryRow> {
  const projectName = `${project}-q${count}`;
  const port = await freePort();
  let berth: ChildProcess | undefined;
  try {
    const configFile = await populate(berthRun, dir, projectName, count);
    const started = performance.now();
    // berth starts again and takes the copies for its modules' containers from the engine's list.
    berth = await startBerth(berthRun, { configFile, port, log: 'ignore', readyWithinMs: 300_000 });
    process.stdout.write(`a: berth ready with ${count} modules in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    return await benchQuery({ berthCommand: berthRun, port, docker, project: projectName, modules: count, requests });
  } finally {
    await stopBerth(berth);
    await removeProject(projectName);
  }
}

async function main(): Promise<void> {
  await Promise.all([buildBusyboxImages(join(root, 'test/fixtures/docker'), docker), buildService()]);
  const engine = await docker.version();
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
  const berthRun = await berthCommand();
  const lines: string[] = [];
  const report = (line = '') => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, Docker Engine ${engine.Version} (API ${engine.ApiVersion})`;
  const chosen = [values.only === allSections.split('').join(',') ? '' : ` --only ${values.only}`, values['max-subscribers'] === '10000' ? '' : ` --max-subscribers ${values['max-subscribers']}`, values['storm-modules'] === '200' ? '' : ` --storm-modules ${values['storm-modules']}`].join('');
  const only = chosen ? ` --${chosen}` : '';
  const benchCommand = `${process.env.BERTH_BENCH_NODE_FLAGS ? `BERTH_BENCH_NODE_FLAGS="${process.env.BERTH_BENCH_NODE_FLAGS}" ` : ''}npm run bench${only}`;
  /** Under each section's heading: how it was run, and what load the machine carried meanwhile. */
  const provenance = (section: string[], loadBefore: number) => {
    const [heading, ...rest] = section;
    const beside = values.beside ? ` Beside it: ${values.beside}.` : '';
    return [
      heading!,
      '',
      `Command: \`${benchCommand}\`. Machine: ${machine}. Generated ${new Date().toISOString()}. Load average (1 min) ${loadBefore.toFixed(1)} at the start of the section, ${loadavg()[0]!.toFixed(1)} at its end.${beside}`,
      ...rest,
    ];
  };
  // Written after each section, so that a section that fails late in an hour's run loses only itself.
  const save = async (complete: boolean) => {
    if (!process.env.BERTH_BENCH_NODE_FLAGS) await writeReport(join(root, 'docs/benchmarks.md'), lines, complete);
  };
  let berth: ChildProcess | undefined;
  try {
    report(`# berth benchmarks`);
    report();
    report(`Command: \`${benchCommand}\` (berth runs as \`node ${berthRun[1].filter((arg) => arg.startsWith('--')).join(' ')} dist/main.js\`). Machine: ${machine}. Generated ${new Date().toISOString()}.`);
    report('Every figure is compared with its floor or the raw engine, measured in the same run. `npm run bench -- --only a,c` runs those sections alone and keeps the others\' last figures.');
    report();

    if (sections.has('a')) {
      const load = loadavg()[0]!;
      const rows = [await queryAt(berthRun, dir, 200, 2000), await queryAt(berthRun, dir, 1000, 1000)];
      for (const line of provenance(queryReport(rows, 2000), load)) report(line);
      await save(false);
    }

    if (['b', 'c', 'd'].some((section) => sections.has(section))) {
      // 41 modules with a container each, created by berth and stopped: m0 for b and d, m1… for c's trials.
      const names = Array.from({ length: 41 }, (_, index) => `m${index}`);
      const port = await freePort();
      const configFile = await writeConfig(dir, project, names.length);
      berth = await startBerth(withOpenFileLimit(berthRun), { configFile, port, env: { BERTH_MAX_CONNECTIONS: '25000' }, log: 'ignore' });
      await createStopped(port, names);
      let delivery: DeliveryRow[] = [];
      const deliveryLoad = loadavg()[0]!;
      if (sections.has('b') || sections.has('d')) {
        const detail = await post(port, print(ModuleDetailDocument), { name: 'm0' });
        const containerId = (JSON.parse(detail) as { data: { module: { containerId: string } } }).data.module.containerId;
        const counts = sections.has('b') ? subscriberCounts : [1, ...memoryCounts.filter((count) => subscriberCounts.includes(count))];
        const floorContainer = await rawContainer(docker, { image, name: `${project}-floor`, network: `${project}-raw`, labels: { 'bench.raw': project } });
        delivery = await benchDelivery({
          berth,
          berthCommand: berthRun,
          port,
          docker,
          containerId,
          floorContainerId: floorContainer.id,
          module: 'm0',
          counts,
          trialsAt: () => (sections.has('b') ? 60 : 0),
          warmUp: sections.has('b') ? 10 : 2,
        });
        await floorContainer.remove({ force: true });
      }
      if (sections.has('b')) for (const line of provenance(deliveryReport(delivery, 10), deliveryLoad)) report(line);
      await save(false);
      // c's berth is one of its own, behind the proxy that times its engine calls.
      await stopBerth(berth);
      if (sections.has('c')) {
        const load = loadavg()[0]!;
        const times = await benchStart({ command: berthRun, configFile, docker, names: names.slice(1), image, project, dir });
        for (const line of provenance(startReport(times), load)) report(line);
        await save(false);
      }
      if (sections.has('d')) for (const line of provenance(memoryReport(delivery, memoryCounts), deliveryLoad)) report(line);
      await save(false);
      // Its containers' names are the module's and kind's, as l's are: they would clash with l's.
      await removeProject(project);
    }

    const others: [string, () => Promise<string[]>][] = [
      ['e', () => benchRecovery({ command: berthRun })],
      ['f', () => benchPull({ command: berthRun })],
      ['g', () => benchLoad({ command: berthRun })],
      ['h', () => benchModuleStats({ command: berthRun })],
      ['i', () => benchLogs({ command: berthRun })],
      ['j', () => benchEngines({ command: berthRun })],
      ['k', () => benchSwarm({ command: berthRun })],
      ['l', () => benchManyModules({ command: berthRun, project: `${project}-l`, populate: (name, count) => populate(berthRun, dir, name, count), remove: removeProject, profileDir: process.env.BERTH_BENCH_PROFILE_DIR })],
      ['m', () => benchStorm({ command: berthRun, modules: Number(values['storm-modules']) })],
    ];
    for (const [section, bench] of others) {
      if (!sections.has(section)) continue;
      const load = loadavg()[0]!;
      for (const line of provenance(await bench(), load)) report(line);
      await save(false);
    }
    await save(sections.size === allSections.length);
  } finally {
    await stopBerth(berth);
    await removeProject(project);
    const raw = await docker.listContainers({ all: true, filters: { label: [`bench.raw=${project}`] } });
    await Promise.all(raw.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    await removeLabelledNetworks(docker, `bench.raw=${project}`);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
