import type { Logger } from 'pino';
import type { ConfigChanges } from '../config/config-diff.ts';
import type { BerthConfig } from '../config/module-spec.ts';
import type { DockerModuleClient } from './docker-module-client.ts';
import type { ModuleReader } from './module-reader.ts';
import type { ModuleStore } from './module-store.ts';

export interface ReconfigurationOptions {
  store: ModuleStore;
  reader: ModuleReader;
  modules: DockerModuleClient;
  logger: Logger;
  /** How long a removed module's container gets to stop before it is killed; default 10 s, as stopModule's. */
  stopTimeoutSeconds?: number;
}

/**
 * A new docker.yaml applied to the modules without a restart. Added and changed modules take their spec at
 * once and are read from the engine (an added one is announced with the status read, and autostarts through
 * the reconciler as at start-up); removed ones retire in the background: their container is stopped and
 * removed, never their volumes or networks, after any operation under way on them.
 */
export class Reconfiguration {
  readonly #store: ModuleStore;
  readonly #reader: ModuleReader;
  readonly #modules: DockerModuleClient;
  readonly #log: Logger;
  readonly #stopTimeoutSeconds: number;
  readonly #removing = new Set<string>();

  constructor({ store, reader, modules, logger, stopTimeoutSeconds = 10 }: ReconfigurationOptions) {
    this.#store = store;
    this.#reader = reader;
    this.#modules = modules;
    this.#log = logger;
    this.#stopTimeoutSeconds = stopTimeoutSeconds;
  }

  /**
   * Resolves once the added and changed modules are read. The removed ones retire in the background, since
   * each waits for the operation under way on it (a stop given an hour, say) and the next reload must not:
   * `removed` resolves once their containers are gone (or their removal failed, to be tried again).
   */
  async apply(config: BerthConfig, changes: ConfigChanges): Promise<{ removed: Promise<void> }> {
    this.#modules.useRegistries(config.registries);
    this.#store.reconfigure(config, changes);
    await Promise.all([...changes.added, ...changes.changed].map((name) => this.#read(name)));
    return { removed: Promise.all(changes.removed.map((name) => this.#retire(name))).then(() => undefined) };
  }

  /** Removals that failed (the engine was down) are tried again once berth is in sync with the engine. */
  retryRemovals(): void {
    for (const { name } of this.#store.specs) if (this.#store.retiring(name)) void this.#retire(name);
  }

  /** The image first: the module's first status, announced on its container's read, then knows whether it is loaded. */
  async #read(name: string): Promise<void> {
    const spec = this.#store.spec(name)!;
    try {
      this.#store.observe(await this.#reader.image(spec.image));
      this.#store.observe(await this.#reader.module(spec));
    } catch (error) {
      this.#log.warn({ err: error, module: name }, 'could not read a module docker.yaml added or changed; the next resync will');
    }
  }

  async #retire(name: string): Promise<void> {
    if (this.#removing.has(name)) return;
    this.#removing.add(name);
    try {
      await this.#modules.retire(name, this.#stopTimeoutSeconds);
    } catch (error) {
      this.#log.warn({ err: error, module: name }, 'could not remove the container of a module no longer in docker.yaml; trying again at the next sync');
    } finally {
      this.#removing.delete(name);
    }
  }
}
