import { Gauge, type Registry } from 'prom-client';
import { containerStatuses, healthStatuses } from '../modules/module-status.ts';
import type { ModuleState, ModuleStore } from '../modules/module-store.ts';

/** An engine's store under the engine's name: what the gauges read at each scrape. */
export interface EngineStore {
  name: string;
  store: ModuleStore;
}

/**
 * A module's status and health as 0/1 gauges, one series per value, and each engine's reachability, all read
 * from the stores when Prometheus scrapes: a change costs nothing more, and a module a reload removed is gone
 * from the next scrape.
 */
export function registerModuleGauges(registry: Registry, engines: () => readonly EngineStore[]): void {
  const status = { label: 'status', values: containerStatuses, of: (module: ModuleState) => module.status };
  const health = { label: 'health', values: healthStatuses, of: (module: ModuleState) => module.health };
  oneHotGauge(registry, engines, { name: 'berth_module_status', help: "1 for the module's status (ContainerStatus), 0 for the others", ...status });
  oneHotGauge(registry, engines, { name: 'berth_module_health', help: "1 for the module's health (HealthStatus), 0 for the others", ...health });
  new Gauge({
    name: 'berth_engine_reachable',
    help: 'Whether berth follows the engine now (1) or is reconnecting to it (0)',
    labelNames: ['engine'],
    registers: [registry],
    collect() {
      for (const { name, store } of engines()) this.set({ engine: name }, store.engine.reachable ? 1 : 0);
    },
  });
}

interface OneHot {
  name: string;
  help: string;
  label: string;
  values: readonly string[];
  of: (module: ModuleState) => string;
}

/** A series per module and value, 1 for the module's own value: a query picks a status by label, as Prometheus does for states. */
function oneHotGauge(registry: Registry, engines: () => readonly EngineStore[], { name, help, label, values, of }: OneHot): void {
  new Gauge({
    name,
    help,
    labelNames: ['engine', 'module', label],
    registers: [registry],
    collect() {
      this.reset();
      for (const { engine, module } of knownModules(engines())) {
        const own = of(module);
        for (const value of values) this.set({ engine, module: module.spec.name, [label]: value }, own === value ? 1 : 0);
      }
    },
  });
}

/**
 * Each engine's modules once berth has seen that engine (before, their status is not known), less those a
 * reload removed, which retire: a module moved to another engine is shown there.
 */
function* knownModules(engines: readonly EngineStore[]): Generator<{ engine: string; module: ModuleState }> {
  for (const { name, store } of engines) {
    if (!store.synced) continue;
    for (const module of store.list()) if (!store.retiring(module.spec.name)) yield { engine: name, module };
  }
}
