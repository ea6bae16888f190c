import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ContainerCreateOptions } from 'dockerode';
import WebSocket from 'ws';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { maxLineBytes } from '../../src/engine/log-stream.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { ModuleLogsDocument, StartModuleDocument, type ModuleLogsSubscription } from '../generated/operations.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';
import { subscribe } from './subscription.ts';

const run = promisify(execFile);
const dockerCli = (...args: string[]) => run('docker', args);

type Line = ModuleLogsSubscription['moduleLogs'];

// Prints three lines at each start (two on stdout, one on stderr, numbered by the run), then waits; leaves at once on SIGTERM.
const talker = [
  'n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs',
  'echo "out-1 run $n"; echo "err-1 run $n" >&2; echo "out-2 run $n"',
  'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done',
].join('; ');

/** Waits, and leaves at once on SIGTERM. */
const waits = 'trap "exit 0" TERM; while true; do sleep 1 & wait $!; done';

/** Prints a line of more than 16 KiB with a character of three bytes across the engine's cut at 16,384 bytes. */
const splitCharacter = "head -c 16383 /dev/zero | tr '\\0' x; printf '\\342\\202\\254END\\n'";

// That line, then one longer than 256 KiB whose short last piece comes after the engine's stamp again, then a
// short one.
const longLines = [splitCharacter, `head -c ${16 * 16_384 + 100} /dev/zero | tr '\\0' y; echo`, 'echo short', waits].join('; ');

/** Writes a line into the container's stdout or stderr, as its own process would. */
const say = (containerId: string, text: string, fd: 1 | 2 = 1) => dockerCli('exec', containerId, 'sh', '-c', `echo '${text}' > /proc/1/fd/${fd}`);

/** The log as the docker CLI shows it with timestamps: stdout and stderr merged by the engine's moment. */
async function cliLog(containerId: string, ...args: string[]): Promise<{ at: string; stream: string; text: string }[]> {
  const { stdout, stderr } = await dockerCli('logs', '--timestamps', ...args, containerId);
  const lines = (text: string, stream: string) =>
    text
      .split('\n')
      .filter(Boolean)
      .map((line) => ({ stamp: line.slice(0, line.indexOf(' ')), stream, text: line.slice(line.indexOf(' ') + 1) }));
  return [...lines(stdout, 'STDOUT'), ...lines(stderr, 'STDERR')]
    .sort((a, b) => (a.stamp < b.stamp ? -1 : a.stamp > b.stamp ? 1 : 0))
    .map(({ stamp, stream, text }) => ({ at: new Date(stamp).toISOString(), stream, text }));
}

/** The lines as the docker CLI shows them without timestamps: what the engine kept of each, without its end. */
async function cliLines(containerId: string): Promise<string[]> {
  const { stdout } = await run('docker', ['logs', containerId], { maxBuffer: 16 * 1024 * 1024 });
  return stdout.split('\n').map((line) => line.replace(/\r$/, ''));
}

/**
 * A pass-through to the engine (its allowlisting test proxy) that knows the connections open through it
 * and the last request each carried: what berth holds open on the engine.
 */
async function connectionWatch(target: string) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
  const socketPath = join(dir, 'engine.sock');
  const open = new Map<Socket, string>();
  const server: Server = createServer((client) => {
    const engine = connect(target);
    open.set(client, '');
    client.on('data', (chunk: Buffer) => {
      const request = /^(?:GET|POST|PUT|DELETE|HEAD) \S+/m.exec(chunk.toString('latin1'));
      if (request) open.set(client, request[0]);
    });
    const close = () => {
      open.delete(client);
      client.destroy();
      engine.destroy();
    };
    for (const socket of [client, engine]) socket.on('close', close).on('error', close);
    client.pipe(engine).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    /** Open connections whose last request follows a container's log. */
    following: () => [...open.values()].filter((request) => /^GET \S*\/logs\?\S*follow=true/.test(request)).length,
    async close() {
      for (const socket of open.keys()) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe('module logs on the engine', () => {
  let berth: Harness;
  let watch: Awaited<ReturnType<typeof connectionWatch>>;
  let server: RunningServer;
  let client: Client;

  beforeAll(async () => {
    watch = await connectionWatch(inject('engineProxySocket'));
    berth = createHarness(
      `modules:
  talker:
    kind: talker{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", ${JSON.stringify(talker)}]
  silent:
    kind: silent{{run}}
    image: ${testImage}
    autostart: false
  longlines:
    kind: longlines{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", ${JSON.stringify(longLines)}]
  console:
    kind: console{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", ${JSON.stringify(longLines)}]
  keeper:
    kind: keeper{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", ${JSON.stringify(`${splitCharacter}; ${waits}`)}]
`,
      { connection: { socketPath: watch.socketPath } },
    );
    await berth.ready();
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
  });
  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    await berth?.cleanup();
    await watch?.close();
  });

  const logs = async (variables: Record<string, unknown>) => {
    const result = await berth.gql(`query($name: String!, $tail: Int, $since: DateTime) { module(name: $name) { logs(tail: $tail, since: $since) { at stream text dropped } } }`, {
      name: 'talker',
      ...variables,
    });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data!.module.logs as { at: string; stream: string; text: string; dropped: number }[];
  };
  const started = async (name: string) => (await berth.gql(StartModuleDocument, { name })).data!.startModule.containerId!;
  /** The talker in a new container, so that its log holds only its first run's lines. */
  const freshTalker = async () => {
    const { containerId } = berth.modules.get('talker');
    if (containerId) await dockerCli('rm', '--force', containerId);
    await waitFor(() => berth.modules.get('talker').containerId === undefined, 'the store to see the container gone');
    return started('talker');
  };
  const follow = (variables: Record<string, unknown>) => subscribe<Line>(client, print(ModuleLogsDocument), 'moduleLogs', { name: 'talker', ...variables });
  const texts = (lines: Line[], stream: string) => lines.filter((line) => line.stream === stream).map((line) => line.text);

  it('answers Module.logs(tail) as the docker CLI shows the log: the last lines, their streams and moments', async () => {
    const containerId = await freshTalker();
    await waitFor(async () => (await logs({ tail: 100 })).length === 3, 'the three lines of the first run');
    const all = await logs({ tail: 100 });
    expect(all.map(({ stream, text }) => [stream, text]).sort()).toEqual([
      ['STDERR', 'err-1 run 1'],
      ['STDOUT', 'out-1 run 1'],
      ['STDOUT', 'out-2 run 1'],
    ]);
    expect(all.map(({ at, stream, text }) => ({ at, stream, text }))).toEqual(await cliLog(containerId));
    expect(all.every((line) => line.dropped === 0)).toBe(true);
    expect((await logs({ tail: 2 })).map(({ at, stream, text }) => ({ at, stream, text }))).toEqual(await cliLog(containerId, '--tail', '2'));
    expect(await logs({ tail: 0 })).toEqual([]);
    // From a moment on, that moment included, as the CLI's --since: a line printed later is in, the first run's are out.
    await say(containerId, 'later');
    await waitFor(async () => (await logs({ tail: 100 })).length === 4, 'the line printed later');
    const later = (await logs({ tail: 1 }))[0]!;
    const since = await logs({ tail: 100, since: later.at });
    expect(since.map(({ at, stream, text }) => ({ at, stream, text }))).toEqual(await cliLog(containerId, '--since', later.at));
    expect(since.map((line) => line.text)).toEqual(['later']);
  });

  /**
   * A container made outside berth for the module, labelled as berth labels its own, with what docker.yaml has
   * no words for (a TTY, another log driver): berth takes it as the module's.
   */
  const adopted = async (name: string, options: Partial<ContainerCreateOptions>) => {
    const spec = berth.config.modules.find((module) => module.name === name)!;
    const labels = { ...moduleLabels(berth.project, spec), [labelKeys.spec]: specDigest(spec) };
    const container = await docker.createContainer({ name: spec.containerName, Image: spec.image, Cmd: spec.command, Labels: labels, ...options });
    await container.start();
    await waitFor(() => berth.modules.get(name).containerId === container.id && berth.modules.get(name).status === 'RUNNING', 'berth to see the module run');
    return container.id;
  };

  /** The longLines log as berth must give it: the engine's lines, the long one in pieces of 256 KiB of one moment. */
  const expectLongLines = async (lines: { at: string; text: string }[], containerId: string) => {
    const [splitLine, long, short] = await cliLines(containerId);
    expect(splitLine).toMatch(/^x{16383}.+END$/u);
    expect(lines.map(({ text }) => text)).toEqual([splitLine, long!.slice(0, maxLineBytes), long!.slice(maxLineBytes), short]);
    expect(lines[2]!.at).toBe(lines[1]!.at);
  };

  /** Reads and follows a longLines module; answers once the lines are checked. */
  const expectLongLinesOf = async (name: string, containerId: string) => {
    await waitFor(async () => (await logs({ name })).at(-1)?.text === 'short', 'the last line');
    await expectLongLines(await logs({ name }), containerId);
    const feed = follow({ name, tail: 100 });
    await feed.until((line) => line.text === 'short', 'the last line followed');
    await expectLongLines(feed.received, containerId);
    feed.dispose();
  };

  it('reads and follows lines longer than the engine\'s 16 KiB messages as the engine kept them, without its stamps, in pieces of 256 KiB', async () => {
    await expectLongLinesOf('longlines', await started('longlines'));
  });

  it('reads and follows the log of a container with a TTY: raw text, its long lines without the engine\'s stamps', async () => {
    await expectLongLinesOf('console', await adopted('console', { Tty: true }));
  });

  it('keeps a character the engine cut between two messages whole, where the log driver keeps its bytes', async () => {
    // json-file writes such a character as U+FFFD (its messages are JSON strings); the local driver keeps it.
    const containerId = await adopted('keeper', { HostConfig: { LogConfig: { Type: 'local', Config: {} } } });
    await waitFor(async () => (await logs({ name: 'keeper' })).at(-1)?.text.endsWith('END') === true, 'the line');
    // The local driver drops the newline of a line it cut: the CLI shows the line without one, berth at the log's end.
    expect((await logs({ name: 'keeper' })).map(({ text }) => text)).toEqual(await cliLines(containerId));
    expect(await cliLines(containerId)).toEqual([`${'x'.repeat(16_383)}€END`]);
  });

  it('refuses a tail outside 0 to 10,000 as BAD_USER_INPUT, over HTTP and graphql-ws', async () => {
    const answer = await berth.gql(`{ module(name: "talker") { logs(tail: 10001) { text } } }`);
    expect(answer.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const feed = follow({ tail: -1 });
    await waitFor(() => feed.errors.length > 0, 'the subscription to be refused');
    expect(JSON.stringify(feed.errors)).toContain('BAD_USER_INPUT');
  });

  it('follows new lines live, goes on across docker restart without repeating a line, and completes when the container is removed', async () => {
    const containerId = await freshTalker();
    const feed = follow({ tail: 100 });
    await feed.until((line) => line.text === 'out-2 run 1', 'the tail');
    await say(containerId, 'live-1');
    await say(containerId, 'live-err', 2);
    await feed.until((line) => line.text === 'live-err', 'a live stderr line');
    await feed.until((line) => line.text === 'live-1', 'a live stdout line');

    await dockerCli('restart', '--time', '5', containerId);
    await feed.until((line) => line.text === 'out-2 run 2', 'the lines of the next run');
    await say(containerId, 'live-2');
    await feed.until((line) => line.text === 'live-2', 'a live line of the next run');
    expect(texts(feed.received, 'STDOUT')).toEqual(['out-1 run 1', 'out-2 run 1', 'live-1', 'out-1 run 2', 'out-2 run 2', 'live-2']);
    expect(texts(feed.received, 'STDERR')).toEqual(['err-1 run 1', 'live-err', 'err-1 run 2']);
    expect(feed.received.every((line) => line.dropped === 0)).toBe(true);
    // What was delivered is the whole log, as the CLI reads it, in its order.
    expect(feed.received.map(({ at, stream, text }) => ({ at, stream, text }))).toEqual(await cliLog(containerId));

    await dockerCli('rm', '--force', containerId);
    await waitFor(() => feed.isCompleted(), 'the subscription to complete');
    expect(feed.errors).toEqual([]);
    await waitFor(() => watch.following() === 0, 'no log stream left open on the engine');
  });

  it('closes its engine stream when the subscriber completes, and when its connection drops', async () => {
    const containerId = await started('talker');
    const feed = follow({ tail: 1 });
    await feed.until(() => true, 'the last line');
    expect(watch.following()).toBe(1);
    feed.dispose();
    await waitFor(() => watch.following() === 0, 'the stream closed after complete');

    const other = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    const dropped = subscribe<Line>(other, print(ModuleLogsDocument), 'moduleLogs', { name: 'talker', tail: 0 });
    await say(containerId, 'seen before the drop');
    await dropped.until((line) => line.text === 'seen before the drop', 'a live line');
    expect(watch.following()).toBe(1);
    await other.dispose();
    await waitFor(() => watch.following() === 0, 'the stream closed after the connection dropped');
  });

  it('answers no lines, and completes at once, for a module without a container', async () => {
    const answer = await berth.gql(`{ module(name: "silent") { logs { text } } }`);
    expect(answer.data?.module.logs).toEqual([]);
    const feed = subscribe<Line>(client, print(ModuleLogsDocument), 'moduleLogs', { name: 'silent' });
    await waitFor(() => feed.isCompleted(), 'the subscription to complete');
    expect(feed.received).toEqual([]);
  });

  // Logs are for operators: a viewer is refused the field and the subscription before anything runs.
  describe('with a tokens file', () => {
    const operator = newToken('ops', 'operator');
    const viewer = newToken('grafana', 'viewer');
    let auth: TokenFileAuthenticator;
    let secured: RunningServer;
    let dir: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'berth-logs-tokens-'));
      await writeFile(join(dir, 'tokens.yaml'), `tokens:\n${operator.line}\n${viewer.line}\n`);
      auth = await TokenFileAuthenticator.open(join(dir, 'tokens.yaml'), pino({ level: 'silent' }));
      secured = await listen(createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth }), { host: '127.0.0.1', port: 0, auth });
      await started('talker');
    });
    afterAll(async () => {
      auth?.close();
      await secured?.close();
      await rm(dir, { recursive: true, force: true });
    });

    const post = async (token: string) => {
      const response = await fetch(secured.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: '{ module(name: "talker") { name logs(tail: 1) { text } } }' }),
      });
      return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] } };
    };

    it('refuses Module.logs and moduleLogs to a viewer (FORBIDDEN), and serves an operator', async () => {
      const refused = await post(viewer.token);
      expect(refused.status).toBe(403);
      expect(refused.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await post(operator.token)).body).toEqual({ data: { module: { name: 'talker', logs: [{ text: expect.any(String) }] } } });

      for (const [token, outcome] of [
        [viewer.token, 'FORBIDDEN'],
        [operator.token, 'a line'],
      ] as const) {
        const ws = createClient({ url: secured.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: token } });
        const first = await ws.iterate({ query: print(ModuleLogsDocument), variables: { name: 'talker', tail: 1 } }).next();
        await ws.dispose();
        const value = first.value as { data?: { moduleLogs: Line }; errors?: { extensions?: { code?: string } }[] };
        expect(outcome === 'FORBIDDEN' ? value.errors?.[0]?.extensions?.code : value.data?.moduleLogs.text && 'a line').toBe(outcome);
      }
      await waitFor(() => watch.following() === 0, 'no log stream left open on the engine');
    });
  });
});
