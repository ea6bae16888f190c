// loadImages under load: berth's RSS while a 1 GiB `docker save` archive streams through it to the
// engine, against its RSS before, and the time against `docker load` of the same archive.
// Alone: `node --experimental-strip-types bench/load.ts [--megabytes 1024]`; `npm run bench` runs it too.
import { execFile, type ChildProcess } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import Dockerode from 'dockerode';
import { buildBusyboxImages } from '../scripts/busybox-images.ts';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { freePort, rssMb, startBerth, stopBerth } from './berth-process.ts';
import { floorCommand, startPortFloor } from './floor-process.ts';
import { percentile, time } from './stats.ts';

const run = promisify(execFile);
const docker = new Dockerode();

export interface LoadBenchOptions {
  /** berth's command; default what `npm start` runs. */
  command?: [string, string[]];
  /** Size of the image's one data layer; default 1024 MiB. */
  megabytes?: number;
  /** Uploads through berth; default 3. */
  trials?: number;
}

interface Trial {
  before: number;
  peak: number;
  ms: number;
}

/** Report lines for docs/benchmarks.md. */
export async function benchLoad({ command, megabytes = 1024, trials = 3 }: LoadBenchOptions = {}): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-load-'));
  const reference = `berth-bench/load-${process.pid}:1`;
  let berth: ChildProcess | undefined;
  try {
    const archive = await buildArchive(dir, reference, megabytes);
    const raw = await time(() => run('docker', ['load', '-i', archive]));
    await docker.getImage(reference).remove();
    const configFile = join(dir, 'docker.yaml');
    await writeFile(configFile, `project: bench-load-${process.pid}\nmodules:\n  big:\n    kind: load\n    image: ${reference}\n    autostart: false\n`);
    const runs: Trial[] = [];
    // A fresh berth each trial: its RSS before is that of a service that has not loaded anything yet.
    for (let trial = 0; trial < trials; trial++) {
      const port = await freePort();
      berth = await startBerth(command ?? (await serviceCommand()), { configFile, port });
      runs.push(await trialUpload(berth, port, archive));
      await stopBerth(berth);
      await docker.getImage(reference).remove();
    }
    const floors: Trial[] = [];
    for (let trial = 0; trial < trials; trial++) {
      floors.push(await trialFloor(command ?? (await serviceCommand()), archive));
      await docker.getImage(reference).remove();
    }
    const size = (await stat(archive)).size / 2 ** 20;
    const growths = runs.map((run) => run.peak - run.before);
    const floorGrowths = floors.map((run) => run.peak - run.before);
    const times = runs.map((run) => run.ms);
    return [
      '## g. Loading an image archive (`loadImages`)',
      '',
      `A \`docker save\` archive of ${size.toFixed(0)} MiB (one layer of random data) uploaded over HTTP with the GraphQL multipart request, streamed through berth to the engine, against \`docker load -i\` of the same file. berth's RSS is sampled every 50 ms; each of the ${trials} trials starts a fresh berth. The growth is the peak less the RSS before the upload. Its floor is a bare Node HTTP server (bench/load-floor.ts, run with berth's node flags) that pipes the same archive, sent as a plain body, to the engine's \`POST /images/load\`: what is left of the growth there is the socket reads' buffers that the collector has not freed yet, which both hold.`,
      '',
      '| | trials | time p50 | RSS growth p50 | RSS growth max |',
      '| --- | --- | --- | --- | --- |',
      `| \`loadImages\` through berth | ${trials} | ${(percentile(times, 50) / 1000).toFixed(1)} s | **${percentile(growths, 50).toFixed(0)} MB** | ${Math.max(...growths).toFixed(0)} MB |`,
      `| bare Node to the engine (floor) | ${trials} | ${(percentile(floors.map((run) => run.ms), 50) / 1000).toFixed(1)} s | ${percentile(floorGrowths, 50).toFixed(0)} MB | ${Math.max(...floorGrowths).toFixed(0)} MB |`,
      `| \`docker load -i\` | 1 | ${(raw / 1000).toFixed(1)} s | | |`,
      `| **berth ÷ floor** | | **${(percentile(times, 50) / percentile(floors.map((run) => run.ms), 50)).toFixed(2)}×** | **${(percentile(growths, 50) / percentile(floorGrowths, 50)).toFixed(2)}×** | |`,
      `| berth ÷ \`docker load -i\` | | ${(percentile(times, 50) / raw).toFixed(2)}× | | |`,
      '',
    ];
  } finally {
    await stopBerth(berth);
    await docker.getImage(reference).remove({ force: true }).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

/** RSS before and at its peak (sampled every 50 ms) of process `pid` while `act` runs, and how long it took. */
async function measure(pid: number, act: () => Promise<unknown>): Promise<Trial> {
  const before = await rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => void rssMb(pid).then((rss) => (peak = Math.max(peak, rss)), () => {}), 50);
  try {
    const ms = await time(act);
    return { before, peak, ms };
  } finally {
    clearInterval(sampler);
  }
}

function trialUpload(berth: ChildProcess, port: number, archive: string): Promise<Trial> {
  return measure(berth.pid!, () => upload(port, archive));
}

/** The same upload through the floor server, started with berth's program and node flags. */
async function trialFloor(command: [string, string[]], archive: string): Promise<Trial> {
  const floor = await startPortFloor(floorCommand(command, 'load-floor.ts'));
  try {
    return await measure(floor.child.pid!, async () => {
      const response = await fetch(`http://127.0.0.1:${floor.port}/`, { method: 'POST', body: await openAsBlob(archive) });
      const body = await response.text();
      if (!response.ok || body.includes('"error"')) throw new Error(`the floor's load failed: ${body}`);
    });
  } finally {
    floor.child.kill();
  }
}

async function buildArchive(dir: string, reference: string, megabytes: number): Promise<string> {
  const cases = join(dir, 'cases');
  await mkdir(join(cases, 'big'), { recursive: true });
  await writeFile(
    join(cases, 'big', 'Dockerfile'),
    `# tag: ${reference}\nFROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\nRUN head -c ${megabytes * 2 ** 20} /dev/urandom > /blob\n`,
  );
  await buildBusyboxImages(cases, docker);
  const archive = join(dir, 'images.tar');
  await run('docker', ['save', '-o', archive, reference]);
  await docker.getImage(reference).remove();
  return archive;
}

async function upload(port: number, archive: string): Promise<void> {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: 'mutation($file: File!) { loadImages(file: $file) }', variables: { file: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', await openAsBlob(archive), 'images.tar');
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', body: form, headers: { 'x-graphql-yoga-csrf': 'bench' } });
  const body = (await response.json()) as { errors?: unknown[] };
  if (body.errors) throw new Error(`loadImages failed: ${JSON.stringify(body.errors)}`);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { megabytes: { type: 'string', default: '1024' }, trials: { type: 'string', default: '3' } } });
  await buildService();
  for (const line of await benchLoad({ megabytes: Number(values.megabytes), trials: Number(values.trials) })) process.stdout.write(`${line}\n`);
}
