// Benchmark a: the frontend's `modules` query against its floor, a bare node:http server answering
// the very bytes berth answered, and against the engine's own labelled list, in the same run.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import { print } from 'graphql';
import { FrontendModulesDocument } from '../test/generated/operations.ts';
import { floorCommand, startPortFloor } from './floor-process.ts';
import { post } from './http-post.ts';
import { percentile, time } from './stats.ts';

export interface QueryRow {
  modules: number;
  berth: number[];
  floor: number[];
  list: number[];
  bytes: number;
}

const block = 100;

/** `requests` of berth's and the floor's each, after `warmUp` each, in alternating blocks of 100, berth first in every other pair. */
async function interleaved(berthPort: number, floorPort: number, query: string, warmUp: number, requests: number): Promise<{ berth: number[]; floor: number[] }> {
  for (let warm = 0; warm < warmUp; warm++) {
    await post(berthPort, query);
    await post(floorPort, query);
  }
  const times = { berth: [] as number[], floor: [] as number[] };
  const run = async (side: 'berth' | 'floor') => {
    const port = side === 'berth' ? berthPort : floorPort;
    for (let request = 0; request < block; request++) times[side].push(await time(() => post(port, query)));
  };
  for (let pair = 0; pair < requests / block; pair++) {
    if (pair % 2 === 0) await run('berth').then(() => run('floor'));
    else await run('floor').then(() => run('berth'));
  }
  return times;
}

/** Measures berth on `port`, holding `modules` modules of `project`, against its floor and the engine's list. */
export async function benchQuery(options: { berthCommand: [string, string[]]; port: number; docker: Dockerode; project: string; modules: number; requests: number }): Promise<QueryRow> {
  const query = print(FrontendModulesDocument);
  const answer = await post(options.port, query);
  if (!answer.includes('"modules"')) throw new Error(`the modules query answered ${answer.slice(0, 200)}`);
  const dir = await mkdtemp(join(tmpdir(), 'berth-bench-query-'));
  const bodyFile = join(dir, 'answer.json');
  await writeFile(bodyFile, answer);
  const floor = await startPortFloor(floorCommand(options.berthCommand, 'floor-http.ts', bodyFile));
  try {
    const { berth, floor: floorTimes } = await interleaved(options.port, floor.port, query, 500, options.requests);
    const list: number[] = [];
    for (let round = 0; round < 100; round++) {
      list.push(await time(() => options.docker.listContainers({ all: true, filters: { label: [`berth.project=${options.project}`] } })));
    }
    return { modules: options.modules, berth, floor: floorTimes, list, bytes: Buffer.byteLength(answer) };
  } finally {
    floor.child.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

const ms = (value: number) => `${value.toFixed(2)} ms`;

export function queryReport(rows: readonly QueryRow[], requests: number): string[] {
  return [
    '## a. `modules` query against a bare node:http server',
    '',
    `The frontend's \`modules\` query (name, status, ports) over HTTP, ${requests.toLocaleString('en')} requests to each side after 500 each to warm up, in alternating blocks of ${block} (the two taking turns at going first). ` +
      "The floor is a bare node:http server in its own process, run with berth's node flags (bench/floor-http.ts), answering every request with the very bytes berth answered. " +
      "The same client for both: node:http with keep-alive, one socket to each (dockerode's own transport for the engine). The whole response is read. The engine's labelled list of the same containers is kept for scale.",
    '',
    '| modules | answer | berth p50 | berth p99 | floor p50 | floor p99 | **berth ÷ floor p50** | berth ÷ floor p99 | engine list p50 | engine list p99 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((row) => {
      const [berth50, berth99, floor50, floor99] = [percentile(row.berth, 50), percentile(row.berth, 99), percentile(row.floor, 50), percentile(row.floor, 99)];
      return `| ${row.modules.toLocaleString('en')} | ${(row.bytes / 1024).toFixed(1)} KiB | ${ms(berth50)} | ${ms(berth99)} | ${ms(floor50)} | ${ms(floor99)} | **${(berth50 / floor50).toFixed(2)}×** | ${(berth99 / floor99).toFixed(2)}× | ${ms(percentile(row.list, 50))} | ${ms(percentile(row.list, 99))} |`;
    }),
    '',
  ];
}
