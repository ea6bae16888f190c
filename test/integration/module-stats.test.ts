import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { ModuleStatsDocument, StartModuleDocument, StopModuleDocument, type ModuleStatsSubscription } from '../generated/operations.ts';
import { engineSocketPath, startEngineProxy, type EngineProxy } from './engine-proxy.ts';
import { createHarness, freePort, testImage, waitFor, type Harness } from './harness.ts';
import { subscribe, wsClient, type Subscription } from './subscription.ts';

const run = promisify(execFile);
type Stats = ModuleStatsSubscription['moduleStats'];
const MiB = 1024 ** 2;
const statsEndpoint = 'GET /containers/{id}/stats';
const operator = newToken('ops', 'operator');
const viewer = newToken('grafana', 'viewer');

type CliRow = { CPUPerc: string; MemUsage: string; NetIO: string };

/** What `docker stats --no-stream` prints of the container. */
async function dockerStats(container: string): Promise<CliRow> {
  const { stdout } = await run('docker', ['stats', '--no-stream', '--format', '{{json .}}', container]);
  const { CPUPerc, MemUsage, NetIO } = JSON.parse(stdout) as CliRow;
  return { CPUPerc, MemUsage, NetIO };
}

/** A reading printed as the Docker CLI prints its figures (formatter_stats.go, go-units' size.go). */
function asCli(reading: Stats): CliRow {
  return {
    CPUPerc: `${reading.cpuPercent.toFixed(2)}%`,
    MemUsage: `${size(reading.memoryBytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB'], 4)} / ${size(reading.memoryLimitBytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB'], 4)}`,
    NetIO: `${size(reading.networkRxBytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB'], 3)} / ${size(reading.networkTxBytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB'], 3)}`,
  };
}

function size(value: number, base: number, units: string[], digits: number): string {
  let unit = 0;
  for (; value >= base && unit < units.length - 1; unit++) value /= base;
  return `${goG(value, digits)}${units[unit]}`;
}

/** Go's %.{digits}g: that many significant digits, trailing zeros dropped, the exponent form from 10^digits up. */
function goG(value: number, digits: number): string {
  const rounded = Number(value.toPrecision(digits));
  if (rounded < 10 ** digits) return String(rounded);
  const [mantissa, exponent] = rounded.toExponential(digits - 1).split('e') as [string, string];
  return `${Number(mantissa)}e+${exponent.slice(1).padStart(2, '0')}`;
}

/**
 * The reading that `docker stats --no-stream` printed, run while berth follows the container. The engine
 * takes one reading a second for all who follow a container, and the CLI prints the second one it gets
 * (against the first): one of berth's readings, figure for figure, unless berth computes otherwise.
 */
async function printedByDocker(stats: Subscription<Stats>, container: string): Promise<Stats | undefined> {
  const printed = await dockerStats(container);
  const after = Date.now();
  await stats.until((reading) => Date.parse(reading.at) > after, 'a reading after docker stats');
  const match = stats.received.find((reading) => JSON.stringify(asCli(reading)) === JSON.stringify(printed));
  expect(match && asCli(match), `docker stats printed ${JSON.stringify(printed)}`).toEqual(printed);
  return match;
}

/** Sends `size` bytes to the port, or reads until the other side closes or `size` bytes came. */
function transfer(port: number, direction: 'send' | 'receive', size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    socket.on('error', reject);
    if (direction === 'send') socket.end(Buffer.alloc(size), () => resolve(size));
    else
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= size) socket.destroy();
      });
    socket.on('close', () => direction === 'receive' && resolve(received));
  });
}

// moduleStats against `docker stats` on the real engine, through a proxy of this file's own that counts
// the engine's stats streams: one per module whatever the number of subscribers.
describe('moduleStats on the engine', () => {
  let proxy: EngineProxy;
  let proxyDir: string;
  let berth: Harness;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  const clients: Client[] = [];
  let sendPort: number;
  let receivePort: number;

  const client = (token = operator.token) => {
    const created = wsClient(server, { authorization: token });
    clients.push(created);
    return created;
  };
  /** A subscription that ends with the test, whatever its outcome, so that no stream outlives it. */
  const follow = (names: string[] | undefined, on = client()) => {
    const subscription = subscribe<Stats>(on, print(ModuleStatsDocument), 'moduleStats', { names });
    onTestFinished(() => subscription.dispose());
    return subscription;
  };
  const streams = () => ({ opened: proxy.calls.get(statsEndpoint) ?? 0, open: proxy.open.get(statsEndpoint) ?? 0 });
  const start = async (name: string) => (await berth.gql(StartModuleDocument, { name })).data!.startModule.containerId!;

  beforeAll(async () => {
    proxyDir = await mkdtemp(join(tmpdir(), 'berth-stats-proxy-'));
    proxy = await startEngineProxy(join(proxyDir, 'engine.sock'), engineSocketPath());
    [sendPort, receivePort] = [await freePort(), await freePort()];
    // burn: a busy loop held to half a CPU. hold: two listeners that take 3 MiB in and give 2 MiB out,
    // then, once both listen, 50 MiB in tmpfs (/dev/shm).
    berth = createHarness(
      `modules:
  burn:
    kind: burn{{run}}
    image: ${testImage}
    autostart: false
    resources: { cpus: 0.5 }
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do :; done"]
  hold:
    kind: hold{{run}}
    image: ${testImage}
    autostart: false
    resources: { memory: 256m }
    ports:
      sink: { in: 8080, out: ${sendPort}, host: 127.0.0.1 }
      source: { in: 8081, out: ${receivePort}, host: 127.0.0.1 }
    command:
      - sh
      - -c
      - >-
        mkdir -p /tmp; dd if=/dev/zero of=/tmp/out bs=1M count=2 2>/dev/null;
        nc -l -p 8080 > /dev/null & nc -l -p 8081 < /tmp/out &
        until [ "$(netstat -ltn | grep -c ':808[01] ')" = 2 ]; do sleep 0.1; done;
        dd if=/dev/zero of=/dev/shm/fill bs=1M count=50 2>/dev/null;
        trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done
  idle:
    kind: idle{{run}}
    image: ${testImage}
    autostart: false
`,
      { connection: { socketPath: proxy.socketPath } },
    );
    await berth.ready();
    const tokensFile = join(proxyDir, 'tokens.yaml');
    await writeFile(tokensFile, `tokens:\n${operator.line}\n${viewer.line}\n`);
    auth = await TokenFileAuthenticator.open(tokensFile, pino({ level: 'silent' }));
    server = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth }), { host: '127.0.0.1', port: 0, auth });
  });
  afterAll(async () => {
    await Promise.all(clients.map(async (each) => each.dispose()));
    auth?.close();
    await server?.close();
    await berth?.cleanup();
    expect(proxy.refused).toEqual([]);
    await proxy?.close();
    await rm(proxyDir, { recursive: true, force: true });
  });

  it('reads what docker stats reads of a busy loop held to half a CPU', async () => {
    const container = await start('burn');
    const stats = follow(['burn']);
    await stats.until(() => true, 'a first reading');
    const reading = await printedByDocker(stats, container);
    // A CFS quota of 50 ms per 100 ms period: a reading about a second after the last spans 10 periods,
    // give or take one, so at most 55 %; a loaded machine may give the loop less than its quota.
    expect(reading!.cpuPercent).toBeLessThanOrEqual(56);
    expect(reading!.cpuPercent).toBeGreaterThan(25);
    expect(reading!.module).toEqual({ name: 'burn' });
    expect(stats.errors).toEqual([]);
    stats.dispose();
  });

  it('reads the memory and network figures docker stats reads', async () => {
    const container = await start('hold');
    onTestFinished(async () => void (await berth.gql(StopModuleDocument, { name: 'hold', timeoutSeconds: 0 })));
    const stats = follow(['hold']);
    await stats.until((reading) => reading.memoryBytes >= 50 * MiB, '50 MiB held in tmpfs, so both listeners are up');
    expect(await transfer(sendPort, 'send', 3 * MiB)).toBe(3 * MiB);
    expect(await transfer(receivePort, 'receive', 2 * MiB)).toBe(2 * MiB);
    await stats.until((reading) => reading.networkRxBytes >= 3 * MiB && reading.networkTxBytes >= 2 * MiB, 'the transfers');
    const reading = (await printedByDocker(stats, container))!;
    // The tmpfs file is memory the container holds (cgroup v1 counts it in `cache`, not in the inactive file
    // cache); the shell and its sleeps add a few hundred KiB.
    expect(reading.memoryBytes).toBeGreaterThanOrEqual(50 * MiB);
    expect(reading.memoryBytes).toBeLessThan(53 * MiB);
    expect(reading.memoryLimitBytes).toBe(256 * MiB);
    // The bytes moved, and their TCP/IP headers: a few per cent.
    expect(reading.networkRxBytes / (3 * MiB)).toBeLessThan(1.1);
    expect(reading.networkTxBytes / (2 * MiB)).toBeLessThan(1.1);
    expect(stats.errors).toEqual([]);
  });

  it('serves 100 subscribers of one module from one engine stream, closed when the last one leaves', async () => {
    await start('burn');
    await waitFor(() => streams().open === 0, 'the earlier streams to close');
    const before = streams().opened;
    const connections = Array.from({ length: 4 }, () => client());
    const subscribers = Array.from({ length: 100 }, (_, index) => follow(['burn'], connections[index % 4]));
    await waitFor(() => subscribers.every((each) => each.received.length > 0), 'a reading for every subscriber');
    expect(streams()).toEqual({ opened: before + 1, open: 1 });
    for (const each of subscribers.slice(1)) each.dispose();
    const last = subscribers[0]!;
    const mark = last.received.length;
    await last.until(() => true, 'a reading after the others left', mark);
    expect(streams()).toEqual({ opened: before + 1, open: 1 });
    last.dispose();
    await waitFor(() => streams().open === 0, 'the stream to close');
    expect(subscribers.flatMap((each) => each.errors)).toEqual([]);
  });

  it('sends nothing while a module does not run, and follows it from its start; all modules without names', async () => {
    await start('burn');
    await Promise.all(['idle', 'hold'].map((name) => berth.gql(StopModuleDocument, { name, timeoutSeconds: 0 })));
    const stats = follow(undefined);
    await stats.until((reading) => reading.module.name === 'burn', 'a reading of the running module');
    expect(streams().open).toBe(1);
    await start('idle');
    await stats.until((reading) => reading.module.name === 'idle', 'a reading of the started module');
    expect(streams().open).toBe(2);
    await berth.gql(StopModuleDocument, { name: 'idle', timeoutSeconds: 0 });
    await waitFor(() => streams().open === 1, "the stopped module's stream to close");
    const mark = stats.received.length;
    await start('idle');
    await stats.until((reading) => reading.module.name === 'idle', 'readings again after the restart', mark);
    expect(stats.received.map((reading) => reading.module.name)).not.toContain('hold');
    expect(stats.errors).toEqual([]);
    stats.dispose();
    await waitFor(() => streams().open === 0, 'the streams to close');
  });

  it('refuses a viewer (FORBIDDEN) and an unknown module (MODULE_NOT_FOUND) before opening anything', async () => {
    const before = streams().opened;
    const refused = follow(['burn'], client(viewer.token));
    const unknown = follow(['burn', 'nope']);
    await waitFor(() => refused.errors.length > 0 && unknown.errors.length > 0, 'both errors');
    const codes = (errors: unknown[]) => (errors.flat() as { extensions?: { code?: string } }[]).map((error) => error.extensions?.code);
    expect(codes(refused.errors)).toEqual(['FORBIDDEN']);
    expect(codes(unknown.errors)).toEqual(['MODULE_NOT_FOUND']);
    expect(streams().opened).toBe(before);
  });
});
