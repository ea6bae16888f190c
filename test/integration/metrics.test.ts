import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TokenFileAuthenticator } from '../../src/auth/authenticator.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { BerthMetrics } from '../../src/metrics/berth-metrics.ts';
import { createHarness, docker, freePort, testImage, waitFor, type Harness } from './harness.ts';

const operator = newToken('ci', 'operator');
const viewer = newToken('prometheus', 'viewer');

/** A sample's value in Prometheus text: the line of `name` whose labels include these; undefined without one. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (match?.[1] !== name) continue;
    const present = (match[2] ?? '').split(',');
    if (wanted.every((pair) => present.includes(pair))) return Number(match[3]);
  }
  return undefined;
}

describe('/metrics', () => {
  let berth: Harness;
  let auth: TokenFileAuthenticator;
  let server: RunningServer;
  let folder: string;
  let metricsUrl: string;

  async function scrape(token: string | null = viewer.token, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(metricsUrl, { headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  }
  const scraped = async () => (await scrape()).text();

  async function mutate(query: string, token = operator.token) {
    const response = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query }) });
    return (await response.json()) as { errors?: { extensions?: { code?: string } }[] };
  }

  /** Waits until the scraped sample has this value. */
  async function until(name: string, labels: Record<string, string>, value: number): Promise<void> {
    await waitFor(async () => sample(await scraped(), name, labels) === value, `${name}${JSON.stringify(labels)} = ${value}`, 20_000);
  }

  const webContainer = () => docker.getContainer(berth.store.get('web')!.containerId!);

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-metrics-'));
    await writeFile(join(folder, 'tokens.yaml'), `tokens:\n${operator.line}\n${viewer.line}\n`);
    const metrics = new BerthMetrics();
    berth = createHarness(`modules:\n  web:\n    kind: metrics{{run}}\n    image: ${testImage}\n    autostart: false\n`, { metrics });
    await berth.ready();
    auth = await TokenFileAuthenticator.open(join(folder, 'tokens.yaml'), pino({ level: 'silent' }));
    const app = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth, metrics });
    server = await listen(app, { host: '127.0.0.1', port: 0, auth, metrics: metrics.connections });
    metricsUrl = server.url.replace(/\/graphql$/, '/metrics');
  });
  afterAll(async () => {
    auth?.close();
    await server?.close();
    await berth?.cleanup();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('needs a token like /graphql, and a viewer’s will do: Prometheus text in its content type', async () => {
    const refused = await scrape(null);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="berth"');
    expect((await scrape('berth_guess')).status).toBe(401);
    // GraphiQL's page is open to a browser, but only at /graphql.
    expect((await scrape(null, { accept: 'text/html' })).status).toBe(401);
    const answered = await scrape();
    expect(answered.status).toBe(200);
    expect(answered.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await answered.text();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(sample(text, 'berth_engine_reachable', { engine: 'local' })).toBe(1);
    expect(sample(text, 'berth_module_status', { module: 'web', status: 'HANDLING' })).toBe(0);
    expect(sample(text, 'berth_module_health', { module: 'web', health: 'NONE' })).toBe(1);
    expect(sample(text, 'berth_connections_open', { transport: 'http' })).toBeGreaterThanOrEqual(1);
  });

  it('counts startModule by outcome with its duration, errors and refusals by their code', async () => {
    const before = await scraped();
    expect((await mutate('mutation { startModule(name: "web") { status } }')).errors).toBeUndefined();
    expect((await mutate('mutation { startModule(name: "nope") { status } }')).errors?.[0]?.extensions?.code).toBe('MODULE_NOT_FOUND');
    expect((await mutate('mutation { stopModule(name: "web") { status } }', viewer.token)).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const after = await scraped();
    /** How much the sample grew since `before` (a series not yet there counts as 0). */
    const grown = (name: string, labels: Record<string, string>) => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(grown('berth_operations_total', { operation: 'startModule', outcome: 'ok' })).toBe(1);
    expect(grown('berth_operations_total', { operation: 'startModule', outcome: 'MODULE_NOT_FOUND' })).toBe(1);
    expect(grown('berth_operations_total', { operation: 'stopModule', outcome: 'FORBIDDEN' })).toBe(1);
    expect(grown('berth_operation_duration_seconds_count', { operation: 'startModule' })).toBe(2);
    expect(grown('berth_operation_duration_seconds_bucket', { operation: 'startModule', le: '+Inf' })).toBe(2);
    expect(sample(after, 'berth_module_status', { module: 'web', status: 'RUNNING' })).toBe(1);
  });

  it('shows a docker stop: the status gauge flips, the engine’s events are counted and timed to their publication', async () => {
    await mutate('mutation { startModule(name: "web") { status } }');
    await until('berth_module_status', { module: 'web', status: 'RUNNING' }, 1);
    const before = await scraped();
    await webContainer().stop({ t: 0 });
    await until('berth_module_status', { module: 'web', status: 'EXITED' }, 1);
    const after = await scraped();
    expect(sample(after, 'berth_module_status', { module: 'web', status: 'RUNNING' })).toBe(0);
    const events = (text: string) => sample(text, 'berth_engine_events_total', { engine: 'local', type: 'container' }) ?? 0;
    expect(events(after)).toBeGreaterThan(events(before));
    const delays = (text: string) => sample(text, 'berth_event_publish_delay_seconds_count', { engine: 'local' }) ?? 0;
    expect(delays(after)).toBeGreaterThan(delays(before));
  });

  it('counts a graphql-ws connection and its subscription while they are open', async () => {
    const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: viewer.token } });
    try {
      await new Promise<void>((resolve, reject) => {
        client.subscribe({ query: 'subscription { moduleStatusChanged(initial: true) { status } }' }, { next: () => resolve(), error: reject, complete: () => {} });
      });
      const text = await scraped();
      expect(sample(text, 'berth_subscriptions_open', { transport: 'graphql-ws' })).toBe(1);
      expect(sample(text, 'berth_connections_open', { transport: 'graphql-ws' })).toBe(1);
    } finally {
      await client.dispose();
    }
    await until('berth_subscriptions_open', { transport: 'graphql-ws' }, 0);
    await until('berth_connections_open', { transport: 'graphql-ws' }, 0);
  });

  describe('scraped by a real Prometheus', () => {
    let prometheus: ChildProcess | undefined;
    let prometheusUrl: string;
    let log: string;

    /** The instant query's samples, as Prometheus answers them now; none while it is not yet listening. */
    async function query(promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
      const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(() => undefined);
      if (!response?.ok) return [];
      return ((await response.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
    }
    const valueOf = async (promql: string) => (await query(promql))[0]?.value[1];

    /** Prometheus's first scrape comes 5–7 s after it starts, then one a second: generous deadlines. */
    async function eventually(condition: () => Promise<boolean>, what: string): Promise<void> {
      try {
        await waitFor(condition, what, 60_000);
      } catch (error) {
        throw new Error(`${(error as Error).message}; Prometheus's log:\n${(await readFile(log, 'utf8').catch(() => '')).slice(-3000)}`, { cause: error });
      }
    }

    beforeAll(async () => {
      const port = await freePort();
      prometheusUrl = `http://127.0.0.1:${port}`;
      const berthAddress = new URL(server.url).host;
      const config = join(folder, 'prometheus.yml');
      await writeFile(
        config,
        [
          'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
          'scrape_configs:',
          '  - job_name: berth',
          '    metrics_path: /metrics',
          `    authorization: { type: Bearer, credentials: ${viewer.token} }`,
          `    static_configs: [{ targets: ['${berthAddress}'] }]`,
          '',
        ].join('\n'),
      );
      log = join(folder, 'prometheus.log');
      const output = createWriteStream(log);
      prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(folder, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      prometheus.stdout!.pipe(output);
      prometheus.stderr!.pipe(output);
    });
    afterAll(async () => {
      if (prometheus && prometheus.exitCode === null) {
        const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
        prometheus.kill('SIGTERM');
        await exited;
      }
    });

    it('scrapes berth with a viewer’s bearer token and sees a module’s status flip after a docker stop', async () => {
      await mutate('mutation { startModule(name: "web") { status } }');
      await eventually(async () => (await valueOf('berth_module_status{module="web",status="RUNNING"}')) === '1', 'Prometheus to see web RUNNING');
      const targets = (await (await fetch(`${prometheusUrl}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
      expect(targets.data.activeTargets).toEqual([expect.objectContaining({ health: 'up', lastError: '' })]);
      await webContainer().stop({ t: 0 });
      await eventually(async () => (await valueOf('berth_module_status{module="web",status="EXITED"}')) === '1', 'Prometheus to see web EXITED');
      expect(await valueOf('berth_module_status{module="web",status="RUNNING"}')).toBe('0');
      expect(Number(await valueOf('berth_engine_events_total{type="container"}'))).toBeGreaterThan(0);
    });
  });
});
