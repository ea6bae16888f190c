// Benchmark c: what `startModule` adds to the engine's own start of an equivalent container.
import type Dockerode from 'dockerode';
import { print } from 'graphql';
import { StartModuleDocument } from '../test/generated/operations.ts';
import { post } from './http-post.ts';
import { rawContainer } from './raw-container.ts';
import { percentile, time } from './stats.ts';

export interface StartTimes {
  berth: number[];
  raw: number[];
}

/** One trial per name: the module's stopped container started by berth, an equivalent one raw, taking turns at going first. */
export async function benchStart(options: { docker: Dockerode; port: number; names: readonly string[]; image: string; project: string }): Promise<StartTimes> {
  const times: StartTimes = { berth: [], raw: [] };
  const startModule = print(StartModuleDocument);
  for (const [trial, name] of options.names.entries()) {
    // Both sides start a container that has run once and is stopped, one after the other.
    const raw = await rawContainer(options.docker, { image: options.image, name: `${options.project}-raw-${trial}`, network: `${options.project}-raw`, labels: { 'bench.raw': options.project } });
    // node:http with keep-alive on both sides, as in a.
    const berthStart = async () => {
      let answer = '';
      times.berth.push(await time(async () => (answer = await post(options.port, startModule, { name }))));
      if ((JSON.parse(answer) as { data?: { startModule?: { status?: string } } }).data?.startModule?.status !== 'RUNNING') throw new Error(`startModule ${name}: ${answer}`);
    };
    const rawStart = async () => void times.raw.push(await time(() => raw.start()));
    if (trial % 2 === 0) await berthStart().then(rawStart);
    else await rawStart().then(berthStart);
  }
  return times;
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

export function startReport({ berth, raw }: StartTimes): string[] {
  // Each trial's pair ran back to back on equivalent containers: its difference leaves out the engine's drift across trials.
  const added = berth.map((berthTime, trial) => berthTime - raw[trial]!);
  return [
    '## c. `startModule`: milliseconds added to a raw start',
    '',
    "Existing stopped containers; berth's figure is the whole GraphQL mutation over HTTP (node:http, keep-alive: lock, engine calls, state refresh), the raw one dockerode's `POST /containers/{id}/start` on an equivalent container (on a user-defined bridge network with an alias, as a module's container is on `<project>_default`). " +
      'Each trial starts one of each, back to back, the two taking turns at going first; **added** is the median over the trials of berth − raw within the trial.',
    '',
    '| | trials | p50 | p99 |',
    '| --- | --- | --- | --- |',
    `| berth \`startModule\` | ${berth.length} | ${ms(percentile(berth, 50))} | ${ms(percentile(berth, 99))} |`,
    `| raw start | ${raw.length} | ${ms(percentile(raw, 50))} | ${ms(percentile(raw, 99))} |`,
    `| **added by berth** (per-trial berth − raw) | ${added.length} | **${ms(percentile(added, 50))}** | ${ms(percentile(added, 99))} |`,
    '',
  ];
}
