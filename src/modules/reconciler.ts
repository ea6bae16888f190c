import type { Logger } from 'pino';
import type { DockerModuleClient } from './docker-module-client.ts';
import type { ModuleState, ModuleStore } from './module-store.ts';

/** Creates and starts what the store shows as NOT_CREATED and docker.yaml marks autostart. */
export class Reconciler {
  readonly #modules: DockerModuleClient;
  readonly #store: ModuleStore;
  readonly #log: Logger;
  readonly #starting = new Set<string>();

  constructor({ modules, store, logger }: { modules: DockerModuleClient; store: ModuleStore; logger: Logger }) {
    this.#modules = modules;
    this.#store = store;
    this.#log = logger;
  }

  /** Every module once: after each resync. */
  reconcile(): void {
    for (const module of this.#store.list()) this.#autostart(module);
  }

  /**
   * Keeps reconciling on every change: an image that appears, a container removed from outside, or
   * the module's container name given up by a container berth does not own. Answers the way to stop.
   */
  follow(): () => void {
    const stopChanges = this.#store.subscribe((change) => this.#autostart(change.module));
    const stopNames = this.#store.onNameFreed((name) => this.#autostart(this.#store.get(name)!));
    return () => {
      stopChanges();
      stopNames();
    };
  }

  #autostart(module: ModuleState): void {
    const { name, autostart } = module.spec;
    // A resync and a change can both ask for the same module: one start is enough.
    if (module.status !== 'NOT_CREATED' || !autostart || this.#starting.has(name)) return;
    this.#starting.add(name);
    this.#modules
      .start(name)
      .catch((error: Error) => this.#log.warn({ module: name, err: error }, 'could not create and start an autostart module'))
      .finally(() => this.#starting.delete(name));
  }
}
