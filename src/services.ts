import { isDeepStrictEqual } from 'node:util';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { diffConfigs, type ConfigChanges } from './config/config-diff.ts';
import { defaultEngine, type BerthConfig, type EngineSpec } from './config/module-spec.ts';
import { DockerodeClient } from './engine/docker-client.ts';
import { connectionOptions } from './engine/engine-connection.ts';
import type { EngineDeadlines } from './engine/engine-requests.ts';
import { redactor, type Redact } from './engine/engine-error.ts';
import { AuditLog } from './lib/audit-log.ts';
import type { BerthMetrics } from './metrics/berth-metrics.ts';
import { DockerModuleClient } from './modules/docker-module-client.ts';
import { EngineWatcher, type EngineWatcherOptions } from './modules/engine-watcher.ts';
import { Fleet } from './modules/fleet.ts';
import { ModuleReader } from './modules/module-reader.ts';
import { ModuleStore } from './modules/module-store.ts';
import { Reconciler } from './modules/reconciler.ts';
import { Reconfiguration } from './modules/reconfiguration.ts';

export interface BerthServicesOptions {
  config: BerthConfig;
  logger: Logger;
  /**
   * dockerode connection options by engine name, in place of the address docker.yaml gives it (tests reach
   * engines through an allowlisting proxy). The default engine's default: DOCKER_HOST and friends.
   */
  connections?: Readonly<Record<string, Dockerode.DockerOptions>>;
  deadlines?: EngineDeadlines;
  watcher?: Pick<EngineWatcherOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'watchdogMs' | 'resyncMs'>;
  /** How long a start waits for each dependency's condition; default 300 s. */
  dependencyTimeoutMs?: number;
  /** How long the container of a module a reload removed gets to stop before it is killed; default 10 s. */
  removalStopSeconds?: number;
  /** How long an applied module's new container has to run (and be healthy) before it is rolled back; default 60 s. */
  updateTimeoutMs?: number;
  /** The audit trail; default one on `logger` alone. */
  audit?: AuditLog;
  /** Where the engines' events and modules are counted for /metrics; default none. */
  metrics?: BerthMetrics;
}

export type BerthServices = ReturnType<typeof createServices>;

/** How long /ready waits for a reconnect it asked for: under the 1 s timeout of the usual probes. */
const readyProbeMs = 800;

function hasSwarmModules(config: BerthConfig): boolean {
  return config.modules.some((module) => module.deploy !== undefined);
}

function sameEngines(before: readonly EngineSpec[], after: readonly EngineSpec[]): boolean {
  const byName = new Map(before.map((engine) => [engine.name, engine]));
  return before.length === after.length && after.every((engine) => isDeepStrictEqual(byName.get(engine.name), engine));
}

/** The part of a configuration one engine runs: its modules; volumes and networks are made where a module needs them. */
function configFor(config: BerthConfig, engine: string): BerthConfig {
  return { ...config, modules: config.modules.filter((module) => module.engine === engine) };
}

/**
 * berth's services, built once at start-up and handed to the app; `start` begins following the engines.
 * Each engine of docker.yaml gets its own services (engineServices), and the Fleet routes each module's
 * operations to its engine's: one engine down leaves the others as they are.
 */
export function createServices(options: BerthServicesOptions) {
  const { config, logger, connections = {} } = options;
  let current = config;
  // Every secret of every configuration loaded: an older engine message may still carry one a reload replaced.
  const secrets = new Set(config.secrets);
  let redact = redactor([...secrets]);
  const audit = options.audit ?? new AuditLog(logger);
  const engines = config.engines.map((engine) =>
    engineServices({
      ...options,
      config: configFor(config, engine.name),
      engine: engine.name,
      connection: connections[engine.name] ?? connectionOptions(engine),
      logger: config.engines.length === 1 ? logger : logger.child({ engine: engine.name }),
      audit,
      redact: (text) => redact(text),
    }),
  );
  const fleet = new Fleet(engines, config.modules.map((module) => module.name));
  options.metrics?.followEngines(engines);
  const local = engines.find((engine) => engine.name === defaultEngine)!;
  return {
    /** The default engine's client and store (the only ones, with one engine). */
    docker: local.docker,
    store: local.store,
    /** Each engine's services, by name. */
    engines: new Map(engines.map((engine) => [engine.name, engine])),
    /** The audit trail: reloads and berth's own applies here, requests' through the app. */
    audit,
    modules: fleet,
    /** For /ready: some engine answers. A probe tries a reconnect of the engines marked down at once rather than wait. */
    engineReady: async () => engines.some((engine) => engine.store.engine.reachable) || (await Promise.all(engines.map((engine) => engine.reachableNow(readyProbeMs)))).some(Boolean),
    start() {
      for (const engine of engines) engine.start();
    },
    async stop() {
      await Promise.all(engines.map((engine) => engine.stop()));
    },
    /**
     * A new docker.yaml, validated, of the same project and engines: the seam of every reload. Added modules
     * appear (and autostart), changed ones take their new spec, removed ones' containers are stopped and
     * removed, and a module moved to another engine does both; pulls use its registries, and engine messages
     * are scrubbed of its secrets too. Answers what it changed, once the new modules are read and the removed
     * ones gone.
     */
    async reconfigure(next: BerthConfig): Promise<ConfigChanges> {
      if (next.project !== current.project) throw new Error(`a reload cannot change the project (${current.project} to ${next.project})`);
      // The reloader's parse refuses this with positions; here it would leave modules on an engine berth has no services for.
      if (!sameEngines(current.engines, next.engines)) throw new Error('a reload cannot change the engines: restart berth');
      const changes = diffConfigs(current, next);
      const before = current;
      current = next;
      for (const secret of next.secrets) secrets.add(secret);
      redact = redactor([...secrets]);
      fleet.reorder(next.modules.map((module) => module.name));
      await Promise.all(engines.map((engine) => engine.reconfigure(configFor(before, engine.name), configFor(next, engine.name))));
      return changes;
    },
    /** Resolves once the autostarts under way when stop() was called have ended. */
    settled: () => Promise.all(engines.map((engine) => engine.settled())).then(() => undefined),
  };
}

interface EngineServicesOptions extends Omit<BerthServicesOptions, 'connections'> {
  engine: string;
  connection: Dockerode.DockerOptions | undefined;
  audit: AuditLog;
  redact: Redact;
}

export type EngineServices = ReturnType<typeof engineServices>;

/**
 * One engine's services. Data flows one way: the watcher and the operations read the engine and hand the
 * store what they saw; the store's changes go to subscribers and to the reconciler, which starts autostart
 * modules.
 */
function engineServices({ config, logger, engine, connection, deadlines, watcher: watcherOptions, dependencyTimeoutMs, removalStopSeconds, updateTimeoutMs, audit, redact, metrics }: EngineServicesOptions) {
  const docker = new DockerodeClient({ connection, deadlines, redact, logger: logger.child({ component: 'engine' }) });
  // Beside other engines, berth may serve before this one answers: its modules are announced when it first does.
  const store = new ModuleStore({ config, logger: logger.child({ component: 'store' }), announceFirstSync: config.engines.length > 1 });
  const reader = new ModuleReader({ docker, store, project: config.project });
  const modules = new DockerModuleClient({
    docker,
    store,
    reader,
    project: config.project,
    engine,
    logger: logger.child({ component: 'modules' }),
    // The watcher below is built before anything can call this.
    reconnect: () => watcher.reachableNow(),
    dependencyTimeoutMs,
    registries: config.registries,
    updateTimeoutMs,
    audit,
    redact,
  });
  const reconciler = new Reconciler({ modules, store, logger: logger.child({ component: 'reconciler' }) });
  const reconfiguration = new Reconfiguration({ store, reader, modules, logger: logger.child({ component: 'reload' }), stopTimeoutSeconds: removalStopSeconds });
  const watcher = new EngineWatcher({
    docker,
    store,
    reader,
    logger: logger.child({ component: 'watcher' }),
    onSynced: () => {
      reconciler.reconcile();
      modules.recoverUpdates().catch((error: Error) => logger.error({ err: error }, 'could not undo an update left unfinished'));
      reconfiguration.retryRemovals();
    },
    socketPath: docker.socketPath,
    meter: metrics?.events.meter(engine),
    ...watcherOptions,
  });
  let stopReconciling: (() => void) | undefined;
  return {
    name: engine,
    docker,
    store,
    modules,
    reachableNow: (withinMs?: number) => watcher.reachableNow(withinMs),
    start() {
      stopReconciling ??= reconciler.follow();
      watcher.start();
    },
    async stop() {
      stopReconciling?.();
      modules.stopPulls();
      await watcher.stop();
    },
    async reconfigure(before: BerthConfig, next: BerthConfig): Promise<void> {
      await reconfiguration.apply(next, diffConfigs(before, next));
      // Swarm modules are followed from the connection on (service and node events, the task poll).
      if (hasSwarmModules(before) !== hasSwarmModules(next)) watcher.refollow();
    },
    settled: () => reconciler.idle(),
  };
}
