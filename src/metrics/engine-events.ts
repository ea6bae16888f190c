import { Counter, Histogram, type Registry } from 'prom-client';
import type { EngineEvent } from '../engine/engine-types.ts';
import type { EventMeter } from '../modules/engine-watcher.ts';

/** The engine's event types (Docker's `Type`): a bounded label; any other counts as `other`. */
export const eventTypes = ['container', 'image', 'network', 'volume', 'service', 'node', 'plugin', 'daemon', 'config', 'secret'] as const;

/** From a tenth of a millisecond to a second: a change is published in well under a millisecond unless it waits for a read. */
export const publishDelayBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** The engine events berth receives, by type, and how long each took to reach subscribers as a published change. */
export class EngineEventMetrics {
  readonly #events: Counter<'engine' | 'type'>;
  readonly #delay: Histogram<'engine'>;

  constructor(registry: Registry) {
    this.#events = new Counter({
      name: 'berth_engine_events_total',
      help: 'Engine events berth received, by the event type',
      labelNames: ['engine', 'type'],
      registers: [registry],
    });
    this.#delay = new Histogram({
      name: 'berth_event_publish_delay_seconds',
      help: 'From receiving an engine event to publishing the change it made to subscribers (reads it needed included)',
      labelNames: ['engine'],
      buckets: publishDelayBuckets,
      registers: [registry],
    });
  }

  /**
   * One engine's meter, for its watcher. Its series are made here, once: each event then costs a map lookup
   * and an increment, and every type shows (as 0) from the first scrape.
   */
  meter(engine: string): EventMeter {
    const byType = new Map<string, Counter.Internal>([...eventTypes, 'other'].map((type) => [type, this.#events.labels(engine, type)]));
    for (const counter of byType.values()) counter.inc(0);
    const other = byType.get('other')!;
    this.#delay.zero({ engine });
    const delay = this.#delay.labels(engine);
    return {
      received: (event: EngineEvent) => (byType.get(event.type) ?? other).inc(),
      published: (delayMs: number) => delay.observe(delayMs / 1000),
    };
  }
}
