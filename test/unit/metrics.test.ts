import { GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { createGraphQLError, createYoga } from 'graphql-yoga';
import { pino } from 'pino';
import type { MetricValueWithName } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { useRoles } from '../../src/auth/auth-plugin.ts';
import type { Principal } from '../../src/auth/tokens.ts';
import { countSubscription, mutationFields, outcome, useMetrics } from '../../src/graphql/plugins/metrics.ts';
import { useSharedSubscriptionExecution } from '../../src/graphql/plugins/shared-subscriptions.ts';
import { BerthMetrics } from '../../src/metrics/berth-metrics.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { EngineWatcher } from '../../src/modules/engine-watcher.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');

/** The metric's value for the series with these labels (a histogram's: `_count`, `_sum` or `_bucket` by metricName). */
async function valueOf(metrics: BerthMetrics, name: string, labels: Record<string, string | number>, metricName = name): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  const series = (metric.values as MetricValueWithName<string>[]).find((value) => (value.metricName ?? name) === metricName && Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted));
  return series?.value;
}

async function seriesOf(metrics: BerthMetrics, name: string): Promise<Record<string, string | number | undefined>[]> {
  return (await metrics.registry.getSingleMetric(name)!.get()).values.map((value) => value.labels);
}

describe('module and engine gauges', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let metrics: BerthMetrics;

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha, beta) });
    metrics = new BerthMetrics();
    metrics.followEngines([{ name: 'local', store }]);
  });

  it('shows no module before the engine is first seen, and the engine as unreachable', async () => {
    expect(await seriesOf(metrics, 'berth_module_status')).toEqual([]);
    expect(await valueOf(metrics, 'berth_engine_reachable', { engine: 'local' })).toBe(0);
  });

  it('shows 1 for each module’s status and health and 0 for the others, read from the store at each scrape', async () => {
    const container = engine.addContainer(alpha, 'running', { ...moduleLabels(project, alpha), [labelKeys.spec]: specDigest(alpha) });
    await sync(store, engine);
    expect(await valueOf(metrics, 'berth_engine_reachable', { engine: 'local' })).toBe(1);
    expect(await valueOf(metrics, 'berth_module_status', { engine: 'local', module: 'alpha', status: 'RUNNING' })).toBe(1);
    expect(await valueOf(metrics, 'berth_module_status', { engine: 'local', module: 'alpha', status: 'EXITED' })).toBe(0);
    expect(await valueOf(metrics, 'berth_module_status', { engine: 'local', module: 'beta', status: 'NOT_LOADED' })).toBe(1);
    expect(await valueOf(metrics, 'berth_module_health', { engine: 'local', module: 'alpha', health: 'NONE' })).toBe(1);
    expect((await seriesOf(metrics, 'berth_module_status')).length).toBe(2 * 5);
    expect((await seriesOf(metrics, 'berth_module_health')).length).toBe(2 * 4);

    engine.setState(container.id, 'exited');
    store.observe({ type: 'event', event: containerEvent(container, 'die') });
    expect(await valueOf(metrics, 'berth_module_status', { module: 'alpha', status: 'RUNNING' })).toBe(0);
    expect(await valueOf(metrics, 'berth_module_status', { module: 'alpha', status: 'EXITED' })).toBe(1);
  });

  it('leaves out a module a reload removed', async () => {
    await sync(store, engine);
    expect(new Set((await seriesOf(metrics, 'berth_module_status')).map((labels) => labels.module))).toEqual(new Set(['alpha', 'beta']));
    store.reconfigure(berthConfig(alpha), { added: [], removed: ['beta'], changed: [] });
    const modules = new Set((await seriesOf(metrics, 'berth_module_status')).map((labels) => labels.module));
    expect(modules).toEqual(new Set(['alpha']));
  });

  it('serves the Node defaults beside berth’s own, in Prometheus text', async () => {
    const text = await metrics.text();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
    expect(text).toContain('# TYPE berth_module_status gauge');
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  });
});

describe('engine events', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let metrics: BerthMetrics;
  let watcher: EngineWatcher | undefined;
  const labels = { ...moduleLabels(project, alpha), [labelKeys.spec]: specDigest(alpha) };

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha) });
    metrics = new BerthMetrics();
  });
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  function watch(): void {
    watcher = new EngineWatcher({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), logger: pino({ level: 'silent' }), initialBackoffMs: 5, maxBackoffMs: 20, watchdogMs: 50, meter: metrics.events.meter('local') });
    watcher.start();
  }
  const delays = () => valueOf(metrics, 'berth_event_publish_delay_seconds', { engine: 'local' }, 'berth_event_publish_delay_seconds_count');

  it('counts events by type, any type it does not know as other, each type shown from the start', async () => {
    const meter = metrics.events.meter('local');
    const container = engine.addContainer(alpha, 'running', labels);
    meter.received(containerEvent(container));
    meter.received(containerEvent(container));
    meter.received({ ...containerEvent(container), type: 'checkpoint' as never });
    expect(await valueOf(metrics, 'berth_engine_events_total', { engine: 'local', type: 'container' })).toBe(2);
    expect(await valueOf(metrics, 'berth_engine_events_total', { engine: 'local', type: 'other' })).toBe(1);
    expect(await valueOf(metrics, 'berth_engine_events_total', { engine: 'local', type: 'volume' })).toBe(0);
    expect(await valueOf(metrics, 'berth_event_publish_delay_seconds', { engine: 'local' }, 'berth_event_publish_delay_seconds_count')).toBe(0);
  });

  it('times an event to the change it publishes, once, and not an event that changes nothing', async () => {
    const container = engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => store.synced, 'the first sync');
    engine.setState(container.id, 'running');
    engine.emit(containerEvent(container, 'start'));
    await until(() => store.get('alpha')!.status === 'RUNNING', 'the event to apply');
    expect(await delays()).toBe(1);
    engine.calls.length = 0;
    // Another project's container: berth applies the event, which changes nothing of its own.
    engine.emit({ ...containerEvent(container, 'start'), attributes: { name: 'elsewhere' } });
    await until(() => engine.calls.includes('system.ping'), 'a watchdog tick after the event');
    expect(await valueOf(metrics, 'berth_engine_events_total', { engine: 'local', type: 'container' })).toBe(2);
    expect(await delays()).toBe(1);
  });

  it("ends an event's time when the store begins to tell its listeners, before their own work (a socket's writes)", async () => {
    const container = engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => store.synced, 'the first sync');
    const busyMs = 200;
    store.onModuleChanged(() => {
      const until = performance.now() + busyMs;
      while (performance.now() < until);
    });
    engine.setState(container.id, 'running');
    engine.emit(containerEvent(container, 'start'));
    await until(() => store.get('alpha')!.status === 'RUNNING', 'the event to apply');
    expect(await delays()).toBe(1);
    expect(await valueOf(metrics, 'berth_event_publish_delay_seconds', { engine: 'local' }, 'berth_event_publish_delay_seconds_sum')).toBeLessThan(busyMs / 1000);
  });

  it('times an event whose change needs a read until that read publishes it', async () => {
    engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => store.synced, 'the first sync');
    const stray = engine.addContainer(alpha, 'running', labels);
    stray.name = 'stray';
    engine.held.delete([...engine.held.keys()][0]!);
    engine.emit(containerEvent(stray, 'start'));
    await until(() => store.get('alpha')!.containerId === stray.id, 'the read the event called for');
    expect(await delays()).toBe(1);
  });
});

describe('useMetrics', () => {
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { hello: { type: GraphQLString, resolve: () => 'hi' } } }),
    mutation: new GraphQLObjectType({
      name: 'Mutation',
      fields: {
        startModule: { type: GraphQLString, resolve: () => 'started' },
        stopModule: {
          type: GraphQLString,
          resolve: () => {
            throw createGraphQLError('no such module', { extensions: { code: 'MODULE_NOT_FOUND' } });
          },
        },
      },
    }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        ticks: {
          type: GraphQLString,
          subscribe: async function* () {
            yield 'tick';
            await new Promise(() => {});
          },
          resolve: (value: string) => value,
        },
      },
    }),
  });
  let metrics: BerthMetrics;
  const app = (role: Principal['role']) =>
    createYoga({
      schema,
      context: { principal: { name: 'someone', role } },
      plugins: [useMetrics(metrics), useRoles((context) => (context as { principal?: Principal }).principal), useSharedSubscriptionExecution({ onSubscriber: countSubscription(metrics) })],
    });
  const post = (role: Principal['role'], query: string) =>
    app(role).fetch('http://berth/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });

  beforeEach(() => {
    metrics = new BerthMetrics();
  });

  it('answers GET /metrics with the exposition in its content type', async () => {
    const response = await app('viewer').fetch('http://berth/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe(metrics.contentType);
    expect(await response.text()).toContain('# HELP berth_operations_total');
    const head = await app('viewer').fetch('http://berth/metrics', { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, metrics.contentType, '']);
  });

  it('counts each mutation field by outcome, refusals included, with its duration; queries not at all', async () => {
    await post('operator', 'mutation { startModule }');
    await post('operator', 'mutation { a: startModule b: stopModule }');
    await post('viewer', 'mutation { startModule }');
    await post('viewer', '{ hello }');
    expect(await valueOf(metrics, 'berth_operations_total', { operation: 'startModule', outcome: 'ok' })).toBe(2);
    expect(await valueOf(metrics, 'berth_operations_total', { operation: 'stopModule', outcome: 'MODULE_NOT_FOUND' })).toBe(1);
    expect(await valueOf(metrics, 'berth_operations_total', { operation: 'startModule', outcome: 'FORBIDDEN' })).toBe(1);
    // Timed when it ran: the viewer's refusal is counted, not timed.
    expect(await valueOf(metrics, 'berth_operation_duration_seconds', { operation: 'startModule' }, 'berth_operation_duration_seconds_count')).toBe(2);
    expect((await seriesOf(metrics, 'berth_operations_total')).map((labels) => labels.operation)).not.toContain('hello');
  });

  it('counts a subscription open until it ends', async () => {
    const response = await app('viewer').fetch('http://berth/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: 'subscription { ticks }' }),
    });
    const reader = response.body!.getReader();
    await reader.read();
    expect(await valueOf(metrics, 'berth_subscriptions_open', { transport: 'sse' })).toBe(1);
    expect(await valueOf(metrics, 'berth_subscriptions_open', { transport: 'graphql-ws' })).toBe(0);
    await reader.cancel();
    await vi.waitFor(async () => expect(await valueOf(metrics, 'berth_subscriptions_open', { transport: 'sse' })).toBe(0));
  });
});

describe('the labels of an operation', () => {
  it('names each root field of a mutation, through fragments, and none of a query', () => {
    const document = parse('mutation M { a: startModule(name: "x") { name } ... on Mutation { stopModule(name: "y") { name } } ...More } fragment More on Mutation { restartModule(name: "z") { name } }');
    expect(mutationFields({ document, operationName: 'M' })).toEqual([
      { name: 'startModule', key: 'a' },
      { name: 'stopModule', key: 'stopModule' },
      { name: 'restartModule', key: 'restartModule' },
    ]);
    expect(mutationFields({ document: parse('{ modules { name } }'), operationName: undefined })).toEqual([]);
  });

  it('takes the field’s own error, else the operation’s, else ok; an error without a code is INTERNAL_SERVER_ERROR', () => {
    const errors = [{ path: ['a'], extensions: { code: 'MODULE_NOT_FOUND' } }, { path: ['b'], extensions: {} }];
    expect(outcome(errors, 'a')).toBe('MODULE_NOT_FOUND');
    expect(outcome(errors, 'b')).toBe('INTERNAL_SERVER_ERROR');
    expect(outcome(errors, 'c')).toBe('ok');
    expect(outcome([{ path: undefined, extensions: { code: 'FORBIDDEN' } }], 'c')).toBe('FORBIDDEN');
  });
});
