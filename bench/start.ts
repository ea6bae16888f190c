// Benchmark c: what `startModule` adds to the engine's own start of an equivalent container. berth reaches the
// engine through the allowlisting proxy in a process of its own (bench/proxy-process.ts), which times berth's
// engine calls during each mutation, and so does the raw side's start.
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import { print } from 'graphql';
import { StartModuleDocument } from '../test/generated/operations.ts';
import { freePort, startBerth, stopBerth } from './berth-process.ts';
import { post } from './http-post.ts';
import { ProxyChild } from './proxy-child.ts';
import { rawContainer } from './raw-container.ts';
import { percentile, time } from './stats.ts';

export interface StartTimes {
  berth: number[];
  raw: number[];
  /** Per berth start: how long the engine had one of berth's calls open (at the proxy), and how many calls it made. */
  engine: number[];
  calls: number[];
  /** Per berth start: the mutation's milliseconds before berth's first engine call, and after its last one's answer. */
  before: number[];
  after: number[];
}

export interface StartOptions {
  /** How to run berth, as [program, args]. */
  command: [string, string[]];
  /** A docker.yaml declaring `names`, each module with a stopped container on the engine. */
  configFile: string;
  /** The engine, directly: the raw containers are made with it. */
  docker: Dockerode;
  names: readonly string[];
  image: string;
  project: string;
  /** A folder for the proxy's socket. */
  dir: string;
}

/** One trial per name: the module's stopped container started by berth, an equivalent one raw, taking turns at going first. */
export async function benchStart(options: StartOptions): Promise<StartTimes> {
  const times: StartTimes = { berth: [], raw: [], engine: [], calls: [], before: [], after: [] };
  const startModule = print(StartModuleDocument);
  let proxy: ProxyChild | undefined;
  let berth: ChildProcess | undefined;
  try {
    proxy = await ProxyChild.start(options.command, join(options.dir, 'start-engine.sock'));
    const proxied = new Dockerode({ socketPath: proxy.socketPath });
    const port = await freePort();
    berth = await startBerth(options.command, { configFile: options.configFile, port, env: { DOCKER_HOST: `unix://${proxy.socketPath}` }, log: 'ignore' });
    for (const [trial, name] of options.names.entries()) {
      // Both sides start a container that has run once and is stopped, one after the other, through the proxy.
      const made = await rawContainer(options.docker, { image: options.image, name: `${options.project}-raw-${trial}`, network: `${options.project}-raw`, labels: { 'bench.raw': options.project } });
      const raw = proxied.getContainer(made.id);
      // node:http with keep-alive on both sides, as in a.
      const berthStart = async () => {
        let answer = '';
        const engine = await proxy!.timing(async () => void times.berth.push(await time(async () => (answer = await post(port, startModule, { name })))));
        if ((JSON.parse(answer) as { data?: { startModule?: { status?: string } } }).data?.startModule?.status !== 'RUNNING') throw new Error(`startModule ${name}: ${answer}`);
        times.engine.push(engine.ms);
        times.calls.push(engine.calls);
        times.before.push(engine.before);
        times.after.push(engine.after);
      };
      const rawStart = async () => void times.raw.push(await time(() => raw.start()));
      if (trial % 2 === 0) await berthStart().then(rawStart);
      else await rawStart().then(berthStart);
    }
    return times;
  } finally {
    await stopBerth(berth);
    proxy?.stop();
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

export function startReport({ berth, raw, engine, calls, before, after }: StartTimes): string[] {
  // Each trial's pair ran back to back on equivalent containers: its difference leaves out the engine's drift across trials.
  const added = berth.map((berthTime, trial) => berthTime - raw[trial]!);
  // The mutation less the time berth waited on the engine: what berth adds, free of the engine's spread.
  const own = berth.map((berthTime, trial) => berthTime - engine[trial]!);
  const row = (what: string, values: number[], bold = false) => {
    const p50 = ms(percentile(values, 50));
    return `| ${what} | ${values.length} | ${bold ? `**${p50}**` : p50} | ${ms(percentile(values, 99))} |`;
  };
  return [
    '## c. `startModule`: milliseconds added to a raw start',
    '',
    "Existing stopped containers; berth's figure is the whole GraphQL mutation over HTTP (node:http, keep-alive: lock, engine calls, state refresh), the raw one dockerode's `POST /containers/{id}/start` on an equivalent container (on a user-defined bridge network with an alias, as a module's container is on `<project>_default`). " +
      "Both reach the engine through the same allowlisting proxy in a process of its own (bench/proxy-process.ts), which times berth's engine calls during each mutation: from a call's arrival to the end of the engine's answer, overlapping calls once, the open event stream not counted. " +
      'Each trial starts one of each, back to back, the two taking turns at going first. **Added** is the median over the trials of berth − raw within the trial; on this engine a start varies by hundreds of milliseconds from one to the next, which that difference carries. ' +
      "**berth's own time** is each mutation less the time the engine had one of berth's calls open: HTTP, GraphQL, the lock, the state berth takes from the engine's `start` event, and the proxy's hop on berth's side, without the engine's spread.",
    '',
    '| | trials | p50 | p99 |',
    '| --- | --- | --- | --- |',
    row('berth `startModule`', berth),
    row('raw start', raw),
    row("berth's engine calls, at the proxy", engine),
    `| berth's engine calls per start | ${calls.length} | ${percentile(calls, 50)} | ${percentile(calls, 99)} |`,
    row('**added by berth** (per-trial berth − raw)', added, true),
    row("**berth's own time** (mutation − its engine calls)", own, true),
    row('… of which before its first engine call (HTTP, GraphQL, the lock, HANDLING)', before),
    row("… of which after its last engine call's answer (the `start` event, the answer)", after),
    '',
  ];
}
