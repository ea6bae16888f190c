import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import type { ModuleSpec } from '../config/module-spec.ts';
import { BerthError } from '../errors.ts';
import { containerCreateOptions, isOwnedBy, labelKeys, readModuleContainer, specDigest } from './container-spec.ts';
import type { ContainerDetails, DockerClient } from '../engine/docker-client.ts';
import { engineStatusCode } from '../engine/engine-error.ts';
import type { ContainerStatus } from './module-status.ts';
import type { ModuleState, ModuleStore } from './module-store.ts';

export type { ModuleState } from './module-store.ts';

export interface DockerModuleClientOptions {
  docker: DockerClient;
  store: ModuleStore;
  project: string;
  logger: Logger;
}

export const maxStopTimeoutSeconds = 3600;

/**
 * berth's modules on one engine. Reads come from the store; start and stop act on the engine,
 * one operation per module at a time, showing HANDLING while under way.
 */
export class DockerModuleClient {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #project: string;
  readonly #locks = new Map<string, Mutex>();
  readonly #autostarting = new Set<string>();
  readonly #log: Logger;

  constructor({ docker, store, project, logger }: DockerModuleClientOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#project = project;
    this.#log = logger;
  }

  get engine() {
    return this.#store.engine;
  }

  list(status?: ContainerStatus): readonly ModuleState[] {
    this.#requireFirstSync();
    const states = this.#store.list();
    return status ? states.filter((state) => state.status === status) : states;
  }

  get(name: string): ModuleState {
    const spec = this.#spec(name);
    this.#requireFirstSync();
    return this.#store.get(spec.name)!;
  }

  /** The names given, all of them when none; unknown names are MODULE_NOT_FOUND. */
  select(names: readonly string[] | undefined): readonly ModuleState[] {
    this.#requireFirstSync();
    return names ? [...new Set(names)].map((name) => this.get(name)) : this.#store.list();
  }

  subscribe(...args: Parameters<ModuleStore['subscribe']>): ReturnType<ModuleStore['subscribe']> {
    return this.#store.subscribe(...args);
  }

  async start(name: string): Promise<ModuleState> {
    const spec = this.#spec(name);
    return this.#operate(spec, async () => {
      const startedKnown = await this.#startKnownContainer(spec);
      if (startedKnown) return startedKnown;
      let container = await this.#ownedContainer(spec);
      if (container?.state === 'paused') {
        await this.#docker.unpauseContainer(container.id);
        this.#log.info({ module: spec.name, container: container.id }, 'module unpaused');
        return container.id;
      }
      if (container && !startsAsIs(container, spec)) {
        this.#log.info({ module: spec.name, container: container.id, state: container.state }, 'recreating the container: docker.yaml changed since it was made, or it is dead');
        await this.#docker.removeContainer(container.id);
        container = undefined;
      }
      const id = container?.id ?? (await this.#create(spec));
      await this.#docker.startContainer(id);
      this.#log.info({ module: spec.name, container: id }, 'module started');
      return id;
    });
  }

  async stop(name: string, timeoutSeconds: number): Promise<ModuleState> {
    const spec = this.#spec(name);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0 || timeoutSeconds > maxStopTimeoutSeconds) {
      throw new BerthError('BAD_USER_INPUT', `timeoutSeconds must be a whole number from 0 to ${maxStopTimeoutSeconds}, got ${timeoutSeconds}`);
    }
    return this.#operate(spec, async () => {
      const container = await this.#ownedContainer(spec);
      if (!container) {
        await this.#refuseForeignContainer(spec);
        return undefined;
      }
      await this.#docker.stopContainer(container.id, timeoutSeconds);
      this.#log.info({ module: spec.name, container: container.id }, 'module stopped');
      return container.id;
    });
  }

  /** Creates, and starts, what the store shows as NOT_CREATED and docker.yaml marks autostart. */
  reconcile(): void {
    for (const module of this.#store.list()) this.#autostart(module);
  }

  /**
   * Keeps reconciling on every change: an image that appears, a container removed from outside, or
   * the module's container name given up by a container berth does not own.
   */
  autostartOnChanges(): () => void {
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
    if (module.status !== 'NOT_CREATED' || !autostart || this.#autostarting.has(name)) return;
    this.#autostarting.add(name);
    this.start(name)
      .catch((error: Error) => this.#log.warn({ module: name, err: error }, 'could not create and start an autostart module'))
      .finally(() => this.#autostarting.delete(name));
  }

  #spec(name: string): ModuleSpec {
    const spec = this.#store.spec(name);
    if (!spec) throw new BerthError('MODULE_NOT_FOUND', `no module named "${name}" in docker.yaml`);
    return spec;
  }

  #requireFirstSync(): void {
    if (!this.#store.synced) throw engineUnavailable('berth has not yet seen the Docker engine');
  }

  /** Runs work under the module's lock; work returns the id of the container it acted on, if any. */
  async #operate(spec: ModuleSpec, work: () => Promise<string | undefined>): Promise<ModuleState> {
    if (!this.#store.engine.reachable) throw engineUnavailable('the Docker engine cannot be reached');
    let lock = this.#locks.get(spec.name);
    if (!lock) this.#locks.set(spec.name, (lock = new Mutex()));
    return lock.runExclusive(async () => {
      this.#store.setHandling(spec.name, true);
      try {
        const id = await work();
        // One inspect tells the final state; without a container, the store re-reads the module.
        const container = id && (await this.#docker.inspectContainer(id));
        await (container ? this.#store.record(spec.name, container) : this.#store.refreshModule(spec.name));
      } catch (error) {
        await this.#store.refreshModule(spec.name).catch((refresh: Error) => this.#log.warn({ err: refresh }, 'could not re-read the module'));
        throw error;
      } finally {
        this.#store.setHandling(spec.name, false);
      }
      return this.#store.get(spec.name)!;
    });
  }

  /**
   * The common start, with no engine read before it: the store, fed by the engine's events, knows the
   * module's container (berth's, of this project and module), and it can be started as it is.
   * Where the store is behind the engine (the container was removed, paused or is being removed,
   * and the event is still on its way), the engine refuses with 404 or 409 and the start takes the
   * path that reads the engine first. Answers the id of the container it started.
   */
  async #startKnownContainer(spec: ModuleSpec): Promise<string | undefined> {
    const known = this.#store.container(spec.name);
    if (!known || known.state === 'paused' || !startsAsIs(known, spec)) return undefined;
    try {
      await this.#docker.startContainer(known.id);
    } catch (error) {
      const status = engineStatusCode(error instanceof BerthError ? error.cause : error);
      if (status === 404 || status === 409) return undefined;
      throw error;
    }
    this.#log.info({ module: spec.name, container: known.id }, 'module started');
    return known.id;
  }

  async #ownedContainer(spec: ModuleSpec): Promise<ContainerDetails | undefined> {
    // The store's container, when it still is this module's, saves listing the engine.
    const knownId = this.#store.get(spec.name)?.containerId;
    const known = knownId && (await this.#docker.inspectContainer(knownId));
    if (known && isOwnedBy(known.labels, this.#project, spec)) return known;
    return readModuleContainer(this.#docker, this.#project, spec);
  }

  async #refuseForeignContainer(spec: ModuleSpec): Promise<void> {
    const holder = await this.#docker.inspectContainer(spec.containerName);
    if (holder && !isOwnedBy(holder.labels, this.#project, spec)) {
      throw new BerthError(
        'NAME_CONFLICT',
        `container name "${spec.containerName}" of module "${spec.name}" is taken by container ${holder.id.slice(0, 12)}, which berth (project "${this.#project}") does not manage; berth leaves it alone: remove or rename it to let berth create the module's container`,
      );
    }
  }

  async #create(spec: ModuleSpec): Promise<string> {
    await this.#refuseForeignContainer(spec);
    if (!(await this.#docker.hasImage(spec.image))) throw imageNotLoaded(spec);
    try {
      return await this.#docker.createContainer(containerCreateOptions(this.#project, spec));
    } catch (error) {
      const cause = error instanceof BerthError ? error.cause : error;
      if (engineStatusCode(cause) === 409) await this.#refuseForeignContainer(spec);
      if (engineStatusCode(cause) === 404) throw imageNotLoaded(spec);
      throw error;
    }
  }
}

/** A container a start can use as it is: not dead, and running or made from this docker.yaml. */
function startsAsIs(container: ContainerDetails, spec: ModuleSpec): boolean {
  return container.state !== 'dead' && (container.state === 'running' || container.labels[labelKeys.spec] === specDigest(spec));
}

function engineUnavailable(message: string): BerthError {
  return new BerthError('ENGINE_UNAVAILABLE', message);
}

function imageNotLoaded(spec: ModuleSpec): BerthError {
  return new BerthError(
    'IMAGE_NOT_LOADED',
    `image "${spec.image}" of module "${spec.name}" is not on the engine; berth never pulls silently: load or pull it first`,
  );
}
