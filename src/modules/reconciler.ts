import type { Logger } from 'pino';
import { backoffDelay } from '../lib/timing.ts';
import type { DockerModuleClient } from './docker-module-client.ts';
import type { ModuleState, ModuleStore } from './module-store.ts';

export interface ReconcilerOptions {
  modules: DockerModuleClient;
  store: ModuleStore;
  logger: Logger;
  /** First wait before an autostart that failed is tried again; doubles on each failure. Default 1 s. */
  retryMs?: number;
  /** Longest wait between tries. Default 60 s. */
  maxRetryMs?: number;
}

/**
 * Creates and starts what the store shows as NOT_CREATED and docker.yaml marks autostart, and applies the
 * drift of `update: auto` modules.
 */
export class Reconciler {
  readonly #modules: DockerModuleClient;
  readonly #store: ModuleStore;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #maxRetryMs: number;
  readonly #starting = new Map<string, Promise<unknown>>();
  /** Failed tries in a row, by module. */
  readonly #failures = new Map<string, number>();
  readonly #retries = new Map<string, NodeJS.Timeout>();
  readonly #applying = new Set<Promise<unknown>>();
  /** The auto modules that drifted in this turn, applied together at its end. */
  readonly #drifted = new Set<string>();
  #flush: Promise<void> | undefined;
  #following = false;

  constructor({ modules, store, logger, retryMs = 1_000, maxRetryMs = 60_000 }: ReconcilerOptions) {
    this.#modules = modules;
    this.#store = store;
    this.#log = logger;
    this.#retryMs = retryMs;
    this.#maxRetryMs = maxRetryMs;
  }

  /** Every module once: after each resync. */
  reconcile(): void {
    for (const module of this.#store.list()) {
      this.#autostart(module);
      this.#autoUpdate(module);
    }
  }

  /**
   * Keeps reconciling on every change: an image that appears, a container removed from outside, or
   * the module's container name given up by a container berth does not own. Answers the way to stop.
   */
  follow(): () => void {
    this.#following = true;
    const stopChanges = this.#store.subscribe((change) => this.#autostart(change.module));
    const stopNames = this.#store.onNameFreed((name) => this.#autostart(this.#store.get(name)!));
    // A spec change is a module change too: a reload may turn autostart on for a module without a container.
    const stopDrift = this.#store.onModuleChanged((module) => {
      this.#autostart(module);
      this.#autoUpdate(module);
    });
    return () => {
      this.#following = false;
      stopChanges();
      stopNames();
      stopDrift();
      for (const timer of this.#retries.values()) clearTimeout(timer);
      this.#retries.clear();
    };
  }

  #autostart(module: ModuleState): void {
    const { name, autostart } = module.spec;
    // A resync and a change can both ask for the same module: one start is enough. One a reload removed is not started.
    if (module.status !== 'NOT_CREATED' || !autostart || this.#starting.has(name) || this.#store.retiring(name)) return;
    clearTimeout(this.#retries.get(name));
    this.#retries.delete(name);
    const starting = this.#modules.autostart(name).then(
      () => this.#failures.delete(name),
      (error: Error) => {
        this.#failures.set(name, (this.#failures.get(name) ?? 0) + 1);
        this.#log.warn({ module: name, err: error }, 'could not create and start an autostart module');
      },
    ).finally(() => {
      this.#starting.delete(name);
      this.#again(name);
    });
    this.#starting.set(name, starting);
  }

  /**
   * An auto module that drifted (its image moved, or its spec changed) is applied, once for each spec and image
   * it drifted towards: an update that was rolled back is not tried again until one of them changes. Those that
   * drift at once (a shared image moved, a reload) are applied together, dependencies first.
   */
  #autoUpdate(module: ModuleState): void {
    const { spec, drift, status } = module;
    if (spec.update !== 'auto' || drift.length === 0 || status === 'HANDLING') return;
    if (this.#modules.tried(spec.name)) return;
    this.#log.info({ module: spec.name, drift }, 'applying the drift of an update: auto module');
    this.#drifted.add(spec.name);
    this.#flush ??= Promise.resolve().then(() => this.#applyDrifted());
  }

  #applyDrifted(): void {
    const names = [...this.#drifted];
    this.#drifted.clear();
    this.#flush = undefined;
    for (const [name, apply] of this.#modules.applyDrifted(names)) {
      // One the engine interrupted is tried again at the next resync (DockerModuleClient.tried).
      const applying = apply.catch((error: Error) => this.#log.warn({ module: name, err: error }, 'could not apply an update: auto module'));
      this.#applying.add(applying);
      void applying.finally(() => this.#applying.delete(applying));
    }
  }

  /** Resolves once the autostarts under way have ended (after follow() was stopped: for a clean teardown). */
  async idle(): Promise<void> {
    await this.#flush;
    await Promise.allSettled([...this.#starting.values(), ...this.#applying]);
  }

  /**
   * Changes that came while a start was under way found it busy: a module still NOT_CREATED afterwards
   * (its container removed as it started, or the start failed) is tried again, after a wait if it failed.
   */
  #again(name: string): void {
    if (!this.#following) return;
    const failures = this.#failures.get(name) ?? 0;
    // A module a reload removed meanwhile is no longer there to start.
    const again = () => {
      const module = this.#store.get(name);
      if (module) this.#autostart(module);
    };
    if (failures === 0) return again();
    const timer = setTimeout(() => {
      this.#retries.delete(name);
      again();
    }, backoffDelay(failures - 1, this.#retryMs, this.#maxRetryMs));
    timer.unref();
    this.#retries.set(name, timer);
  }
}
