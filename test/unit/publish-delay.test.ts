// berth_event_publish_delay_seconds against the events that happened: each timed once, a retried read's too.
import type { MetricValueWithName } from 'prom-client';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BerthMetrics } from '../../src/metrics/berth-metrics.ts';
import { EngineWatcher } from '../../src/modules/engine-watcher.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, until } from './fake-engine.ts';

async function valueOf(metrics: BerthMetrics, name: string, labels: Record<string, string>, metricName = name): Promise<number | undefined> {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  const series = (metric.values as MetricValueWithName<string>[]).find((value) => (value.metricName ?? name) === metricName && Object.entries(labels).every(([key, wanted]) => value.labels[key] === wanted));
  return series?.value;
}

describe('berth_event_publish_delay_seconds', () => {
  let watcher: EngineWatcher | undefined;
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  // One `docker load` event rechecks every image reference: the event is timed once, at its first publication.
  it('observes one event once, even when the reads it called for publish several changes', async () => {
    const alpha = moduleSpec('alpha');
    const beta = moduleSpec('beta');
    const engine = new FakeEngine();
    const store = new ModuleStore({ config: berthConfig(alpha, beta) });
    const metrics = new BerthMetrics();
    const logger = pino({ level: 'silent' });
    watcher = new EngineWatcher({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), logger, initialBackoffMs: 5, maxBackoffMs: 20, watchdogMs: 50, meter: metrics.events.meter('local') });
    watcher.start();
    await until(() => store.synced, 'the first sync');
    expect([store.get('alpha')!.status, store.get('beta')!.status]).toEqual(['NOT_LOADED', 'NOT_LOADED']);

    const id = engine.addImage(alpha.image);
    engine.imageIds.set(beta.image, id);
    engine.emit({ type: 'image', action: 'load', id, attributes: {}, time: new Date() });
    await until(() => store.get('alpha')!.status === 'NOT_CREATED' && store.get('beta')!.status === 'NOT_CREATED', 'both images seen');

    expect(await valueOf(metrics, 'berth_engine_events_total', { engine: 'local', type: 'image' })).toBe(1);
    expect(await valueOf(metrics, 'berth_event_publish_delay_seconds', { engine: 'local' }, 'berth_event_publish_delay_seconds_count')).toBe(1);
  });

  // A read an event called for that fails is retried at the watchdog tick with the event's time: the slowest
  // events are timed too.
  it('observes an event whose read failed once, when the retried read publishes its change', async () => {
    const alpha = moduleSpec('alpha');
    const engine = new FakeEngine();
    engine.addImage(alpha.image);
    const labels = { ...moduleLabels(project, alpha), [labelKeys.spec]: specDigest(alpha) };
    engine.addContainer(alpha, 'exited', labels);
    const store = new ModuleStore({ config: berthConfig(alpha) });
    const metrics = new BerthMetrics();
    watcher = new EngineWatcher({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), logger: pino({ level: 'silent' }), initialBackoffMs: 5, maxBackoffMs: 20, watchdogMs: 50, meter: metrics.events.meter('local') });
    watcher.start();
    await until(() => store.synced, 'the first sync');
    // A container of the module's that berth does not know yet: the event calls for a read of the module.
    const stray = engine.addContainer(alpha, 'running', labels);
    stray.name = 'stray';
    engine.held.delete([...engine.held.keys()][0]!);
    engine.fail('containers.list', 500);
    engine.fail('containers.inspect', 500);
    engine.emit(containerEvent(stray, 'start'));
    await until(() => store.get('alpha')!.containerId === stray.id, 'the retried read');
    expect(await valueOf(metrics, 'berth_event_publish_delay_seconds', { engine: 'local' }, 'berth_event_publish_delay_seconds_count')).toBe(1);
  });
});
