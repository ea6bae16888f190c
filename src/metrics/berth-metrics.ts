import { collectDefaultMetrics, Registry } from 'prom-client';
import { ConnectionMetrics } from './connections.ts';
import { EngineEventMetrics } from './engine-events.ts';
import { registerModuleGauges, type EngineStore } from './module-gauges.ts';
import { OperationMetrics } from './operations.ts';

/**
 * berth's metrics, on a registry of its own (not prom-client's global one: two berths in one process, as in
 * tests, each count their own): the Node process defaults (process_*, nodejs_*) and berth_*, which /metrics
 * serves. Module and engine gauges are read from the stores when scraped; the rest count as things happen.
 */
export class BerthMetrics {
  readonly registry = new Registry();
  readonly operations = new OperationMetrics(this.registry);
  readonly connections = new ConnectionMetrics(this.registry);
  readonly events = new EngineEventMetrics(this.registry);
  #engines: readonly EngineStore[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    registerModuleGauges(this.registry, () => this.#engines);
  }

  /** The engines whose modules the gauges show, each under its name. */
  followEngines(engines: readonly EngineStore[]): void {
    this.#engines = engines;
  }

  /** The exposition: Prometheus text format, of `contentType`. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
