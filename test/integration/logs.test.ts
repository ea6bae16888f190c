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
import WebSocket from 'ws';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { ModuleLogsDocument, StartModuleDocument, type ModuleLogsSubscription } from '../generated/operations.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
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
    const result = await berth.gql(`query($tail: Int, $since: DateTime) { module(name: "talker") { logs(tail: $tail, since: $since) { at stream text dropped } } }`, variables);
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
