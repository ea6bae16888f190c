// A pull through berth against the docker CLI's `docker pull`, of the same multi-layer image from the same
// local registry (Debian's docker-registry on 127.0.0.1), measured in one run. Alone:
//   node --experimental-strip-types --disable-warning=ExperimentalWarning bench/pull.ts [--trials N]
// bench/run.ts calls benchPull() and adds its lines to docs/benchmarks.md.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { buildService, serviceCommand } from '../scripts/service-command.ts';
import { ImagePullProgressDocument, PullModuleImageDocument } from '../test/generated/operations.ts';
import { randomLayerBytes, randomLayers, startRegistry } from '../test/integration/registry.ts';
import { freePort, startBerth, stopBerth } from './berth-process.ts';
import { percentile } from './stats.ts';

const run = promisify(execFile);
const targetRatio = 1.05;

export interface PullBenchOptions {
  /** Pulls on each side; default 10. */
  trials?: number;
  /** How to run berth, as [program, args]; default `npm start`'s command (scripts/service-command.ts). */
  command?: [string, string[]];
}

/** Runs the pull benchmark and returns its section of docs/benchmarks.md, one line per element. */
export async function benchPull({ trials = 10, command }: PullBenchOptions = {}): Promise<string[]> {
  const docker = new Dockerode();
  const registry = await startRegistry({}, docker);
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-pull-'));
  let berth: ChildProcess | undefined;
  let image: string | undefined;
  try {
    image = await registry.pushLayeredImage(`berth-bench/layers-${process.pid}`);
    const port = await freePort();
    berth = await startBerth(command ?? (await builtServiceCommand()), { configFile: await writeConfig(dir, image), port, log: 'ignore' });
    const berthTimes: number[] = [];
    const cliTimes: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      // Taking turns at going first: neither side always meets a cache the other warmed.
      const sides = [() => timed(berthTimes, () => pullThroughBerth(port)), () => timed(cliTimes, () => run('docker', ['pull', '--quiet', image!]))];
      for (const side of trial % 2 === 0 ? sides : sides.reverse()) {
        await side();
        await removeImage(docker, image);
      }
      process.stderr.write(`pull: trial ${trial + 1}/${trials}: berth ${ms(berthTimes.at(-1)!)}, docker pull ${ms(cliTimes.at(-1)!)}\n`);
    }
    return section(berthTimes, cliTimes, (await docker.version()).Version);
  } finally {
    await stopBerth(berth);
    if (image) await removeImage(docker, image);
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function builtServiceCommand(): Promise<[string, string[]]> {
  await buildService();
  return serviceCommand();
}

async function writeConfig(dir: string, image: string): Promise<string> {
  const file = join(dir, 'docker.yaml');
  await writeFile(file, `project: bench-pull-${process.pid}\nmodules:\n  app:\n    kind: bench\n    image: ${image}\n    autostart: false\n`);
  return file;
}

async function timed(times: number[], action: () => Promise<unknown>): Promise<void> {
  const began = performance.now();
  await action();
  times.push(performance.now() - began);
}

/**
 * pullModuleImage, then imagePullProgress (over SSE) until DONE, as a client follows a pull it starts: from
 * the mutation's request to the DONE event. Subscribing after the mutation follows this pull; before it, a
 * subscriber would be told how the previous pull ended.
 */
async function pullThroughBerth(port: number): Promise<void> {
  const url = `http://127.0.0.1:${port}/graphql`;
  const post = (query: string, accept: string) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify({ query, variables: { name: 'app' } }) });
  const { errors } = (await (await post(print(PullModuleImageDocument), 'application/json')).json()) as { errors?: unknown };
  if (errors) throw new Error(`pullModuleImage failed: ${JSON.stringify(errors)}`);
  const state = await lastState((await post(print(ImagePullProgressDocument), 'text/event-stream')).body!);
  if (state !== 'DONE') throw new Error(`the pull through berth ended ${state}`);
}

/** The state of the last event of an SSE subscription to imagePullProgress, once it ends. */
async function lastState(body: ReadableStream<Uint8Array>): Promise<string | undefined> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const chunk of body) text += decoder.decode(chunk, { stream: true });
  const states = [...text.matchAll(/"state":"([A-Z]+)"/g)].map((match) => match[1]);
  return states.at(-1);
}

async function removeImage(docker: Dockerode, image: string): Promise<void> {
  await docker
    .getImage(image)
    .remove({ force: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
}

const ms = (value: number) => `${value.toFixed(0)} ms`;

function section(berthTimes: number[], cliTimes: number[], engineVersion: string): string[] {
  const ratio = percentile(berthTimes, 50) / percentile(cliTimes, 50);
  // Each trial's two pulls ran back to back: their ratio leaves out the machine's drift across trials.
  const paired = percentile(berthTimes.map((time, trial) => time / cliTimes[trial]!), 50);
  const megabytes = ((randomLayers * randomLayerBytes) / 1e6).toFixed(0);
  return [
    '## f. Pull from a local registry: berth against `docker pull`',
    '',
    `The same image (a static busybox, then ${randomLayers} layers of ${randomLayerBytes / 1e6} MB of random bytes: ${megabytes} MB to download) ` +
      `from Debian's docker-registry on 127.0.0.1, onto Docker Engine ${engineVersion}, removed from the engine after every pull. ` +
      "berth's figure runs from the `pullModuleImage` request to the `DONE` event of `imagePullProgress`, subscribed over SSE once the " +
      'mutation answers, as a client follows a pull it starts: it includes reading the progress and putting the image in berth\'s state. The CLI\'s is `docker pull --quiet`, ' +
      `process start to exit. The two take turns at going first. Target: ratio ≤ ${targetRatio}.`,
    '',
    '| | trials | p50 | max |',
    '| --- | --- | --- | --- |',
    `| berth \`pullModuleImage\` → \`DONE\` | ${berthTimes.length} | ${ms(percentile(berthTimes, 50))} | ${ms(Math.max(...berthTimes))} |`,
    `| \`docker pull\` | ${cliTimes.length} | ${ms(percentile(cliTimes, 50))} | ${ms(Math.max(...cliTimes))} |`,
    `| **ratio (p50)** | | **${ratio.toFixed(3)}** ${ratio <= targetRatio ? '(met)' : '(**not met**)'} | |`,
    `| ratio within each trial's pair (median of ${berthTimes.length}) | | ${paired.toFixed(3)} | |`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({ options: { trials: { type: 'string' } } });
  const lines = await benchPull({ trials: values.trials ? Number(values.trials) : undefined });
  process.stdout.write(`${lines.join('\n')}\n`);
}
