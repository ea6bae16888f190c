import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { diffConfigs, type ConfigChanges } from './config/config-diff.ts';
import type { BerthConfig } from './config/module-spec.ts';
import { DockerodeClient } from './engine/docker-client.ts';
import type { EngineDeadlines } from './engine/engine-requests.ts';
import { redactor } from './engine/engine-error.ts';
import { AuditLog } from './lib/audit-log.ts';
import { DockerModuleClient } from './modules/docker-module-client.ts';
import { EngineWatcher, type EngineWatcherOptions } from './modules/engine-watcher.ts';
import { ModuleReader } from './modules/module-reader.ts';
import { ModuleStore } from './modules/module-store.ts';
import { Reconciler } from './modules/reconciler.ts';
import { Reconfiguration } from './modules/reconfiguration.ts';

export interface BerthServicesOptions {
  config: BerthConfig;
  logger: Logger;
  /** dockerode connection options; default: from DOCKER_HOST and friends, as the docker CLI reads them. */
  connection?: Dockerode.DockerOptions;
  deadlines?: EngineDeadlines;
  watcher?: Pick<EngineWatcherOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'watchdogMs' | 'resyncMs'>;
  /** How long a start waits for each dependency's condition; default 300 s. */
  dependencyTimeoutMs?: number;
  /** How long the container of a module a reload removed gets to stop before it is killed; default 10 s. */
  removalStopSeconds?: number;
  /** How long an applied module's new container has to run (and be healthy) before it is rolled back; default 60 s. */
  updateTimeoutMs?: number;
}

export type BerthServices = ReturnType<typeof createServices>;

/** How long /ready waits for a reconnect it asked for: under the 1 s timeout of the usual probes. */
const readyProbeMs = 800;

/**
 * berth's services, built once at start-up and handed to the app; `start` begins following the engine.
 * Data flows one way: the watcher and the operations read the engine and hand the store what they saw;
 * the store's changes go to subscribers and to the reconciler, which starts autostart modules.
 */
export function createServices({ config, logger, connection, deadlines, watcher: watcherOptions, dependencyTimeoutMs, removalStopSeconds, updateTimeoutMs }: BerthServicesOptions) {
  let current = config;
  // Every secret of every configuration loaded: an older engine message may still carry one a reload replaced.
  const secrets = new Set(config.secrets);
  let redact = redactor([...secrets]);
  const docker = new DockerodeClient({ connection, deadlines, redact: (text) => redact(text), logger: logger.child({ component: 'engine' }) });
  const store = new ModuleStore({ config, logger: logger.child({ component: 'store' }) });
  const reader = new ModuleReader({ docker, store, project: config.project });
  const audit = new AuditLog(logger);
  const modules = new DockerModuleClient({
    docker,
    store,
    reader,
    project: config.project,
    logger: logger.child({ component: 'modules' }),
    // The watcher below is built before anything can call this.
    reconnect: () => watcher.reachableNow(),
    dependencyTimeoutMs,
    registries: config.registries,
    updateTimeoutMs,
    audit,
    redact: (text) => redact(text),
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
    ...watcherOptions,
  });
  let stopReconciling: (() => void) | undefined;
  return {
    docker,
    /** One line per mutation, apply and reload. */
    audit,
    store,
    modules,
    /** For /ready: a probe of an engine marked down tries a reconnect at once rather than wait for the next attempt. */
    engineReady: () => store.engine.reachable || watcher.reachableNow(readyProbeMs),
    start() {
      stopReconciling ??= reconciler.follow();
      watcher.start();
    },
    async stop() {
      stopReconciling?.();
      modules.stopPulls();
      await watcher.stop();
    },
    /**
     * A new docker.yaml, validated, of the same project: the seam of every reload. Added modules appear (and
     * autostart), changed ones take their new spec, removed ones' containers are stopped and removed; pulls
     * use its registries, and engine messages are scrubbed of its secrets too. Answers what it changed, once
     * the new modules are read and the removed ones gone.
     */
    async reconfigure(next: BerthConfig): Promise<ConfigChanges> {
      if (next.project !== current.project) throw new Error(`a reload cannot change the project (${current.project} to ${next.project})`);
      const changes = diffConfigs(current, next);
      current = next;
      for (const secret of next.secrets) secrets.add(secret);
      redact = redactor([...secrets]);
      await reconfiguration.apply(next, changes);
      return changes;
    },
    /** Resolves once the autostarts under way when stop() was called have ended. */
    settled: () => reconciler.idle(),
  };
}
