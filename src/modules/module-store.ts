import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import type { BerthConfig, ModuleSpec } from '../config/module-spec.ts';
import { labelKeys, moduleContainer, ownershipLabels, readModuleContainer } from './container-spec.ts';
import type { ContainerDetails, DockerClient, EngineVersion } from '../engine/docker-client.ts';
import type { EngineEvent } from '../engine/event-stream.ts';
import { moduleStatus, type ContainerStatus, type EngineContainerState } from './module-status.ts';

export interface ModuleState {
  spec: ModuleSpec;
  status: ContainerStatus;
  containerId: string | undefined;
  startedAt: Date | undefined;
  exitCode: number | undefined;
}

export interface ModuleStatusChange {
  module: ModuleState;
  previous: ContainerStatus;
  status: ContainerStatus;
  at: Date;
}

export interface EngineState {
  reachable: boolean;
  version: string | undefined;
  apiVersion: string | undefined;
}

/** The container state an event leaves behind; events absent here change no state. */
const stateAfter: Partial<Record<string, EngineContainerState>> = {
  create: 'created',
  start: 'running',
  restart: 'running',
  unpause: 'running',
  pause: 'paused',
  die: 'exited',
  stop: 'exited',
};

interface Observed {
  imagePresent: boolean;
  container: ContainerDetails | undefined;
}

/**
 * What the engine holds of each module, kept current by resyncs and engine events, so that
 * queries never wait on the engine. Status changes go to subscribers, once each.
 */
export class ModuleStore {
  readonly #docker: DockerClient;
  readonly #project: string;
  readonly #specs: ReadonlyMap<string, ModuleSpec>;
  /** Module names by container name, for the events of containers berth does not own. */
  readonly #byContainerName: ReadonlyMap<string, string>;
  readonly #refreshLocks: ReadonlyMap<string, Mutex>;
  readonly #log: Logger;
  readonly #observed = new Map<string, Observed>();
  /** What get() and list() answer, built once per change rather than on every query. */
  readonly #states = new Map<string, ModuleState>();
  #list: readonly ModuleState[] | undefined;
  readonly #handling = new Set<string>();
  readonly #published = new Map<string, ContainerStatus>();
  readonly #listeners = new Set<(change: ModuleStatusChange) => void>();
  readonly #nameListeners = new Set<(module: string) => void>();
  #engine: EngineState = { reachable: false, version: undefined, apiVersion: undefined };
  #synced = false;

  constructor({ docker, config, logger }: { docker: DockerClient; config: BerthConfig; logger: Logger }) {
    this.#docker = docker;
    this.#project = config.project;
    this.#specs = new Map(config.modules.map((module) => [module.name, module]));
    this.#byContainerName = new Map(config.modules.map((module) => [module.containerName, module.name]));
    this.#refreshLocks = new Map(config.modules.map((module) => [module.name, new Mutex()]));
    this.#log = logger;
  }

  get engine(): EngineState {
    return this.#engine;
  }

  /** True once a first resync has seen the engine. */
  get synced(): boolean {
    return this.#synced;
  }

  spec(name: string): ModuleSpec | undefined {
    return this.#specs.get(name);
  }

  list(): readonly ModuleState[] {
    return (this.#list ??= [...this.#specs.keys()].map((name) => this.get(name)!));
  }

  /** The module as berth knows it: a snapshot, replaced (never changed) when what berth knows changes. */
  get(name: string): ModuleState | undefined {
    const known = this.#states.get(name);
    if (known) return known;
    const spec = this.#specs.get(name);
    if (!spec) return undefined;
    const observed = this.#observed.get(name);
    const container = observed?.container;
    const status = this.#handling.has(name) ? 'HANDLING' : moduleStatus(observed?.imagePresent ?? false, container?.state);
    const state: ModuleState = { spec, status, containerId: container?.id, startedAt: container?.startedAt, exitCode: container?.exitCode };
    this.#states.set(name, state);
    return state;
  }

  /** The module's container as the last resync, event or operation left it; undefined when it has none. */
  container(name: string): ContainerDetails | undefined {
    return this.#observed.get(name)?.container;
  }

  #observe(name: string, observed: Observed): void {
    this.#observed.set(name, observed);
    this.#forget(name);
  }

  #forget(name: string): void {
    this.#states.delete(name);
    this.#list = undefined;
  }

  subscribe(listener: (change: ModuleStatusChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Called with a module's name when a container berth does not own gives up the module's container
   * name (removed or renamed): what NAME_CONFLICT refused may now go ahead.
   */
  onNameFreed(listener: (module: string) => void): () => void {
    this.#nameListeners.add(listener);
    return () => this.#nameListeners.delete(listener);
  }

  /** Lists everything again; publishes what changed since the last look. */
  async resync(): Promise<EngineVersion> {
    const version = await this.#docker.version();
    const owned = await this.#docker.listContainers(ownershipLabels(this.#project));
    const images = await this.#imagePresence();
    await Promise.all(
      // Under each module's lock, so that a resync never overwrites a fresher refresh of an operation.
      [...this.#specs.values()].map((spec) =>
        this.#refreshLocks.get(spec.name)!.runExclusive(async () => {
          const chosen = moduleContainer(spec, owned.filter((container) => container.labels[labelKeys.module] === spec.name));
          const container = chosen && (await this.#docker.inspectContainer(chosen.id));
          this.#observe(spec.name, { imagePresent: images.get(spec.image) ?? false, container });
        }),
      ),
    );
    this.#engine = { reachable: true, ...version };
    this.#synced = true;
    for (const name of this.#specs.keys()) this.#publish(name);
    return version;
  }

  /** An engine event: re-reads what it may have changed. Applying an event twice changes nothing. */
  async apply(event: EngineEvent): Promise<void> {
    if (event.type === 'image') return this.refreshImages();
    const { attributes } = event;
    if (attributes[labelKeys.managed] !== 'true' || attributes[labelKeys.project] !== this.#project) return this.#noticeFreedName(event);
    const name = attributes[labelKeys.module];
    if (!name || !this.#specs.has(name)) return;
    const applied = await this.#refreshLocks.get(name)!.runExclusive(() => this.#applyToKnownContainer(name, event));
    if (!applied) await this.refreshModule(name);
  }

  /**
   * The event's own facts (state, exit code, time) are enough for the module's container: no engine
   * round-trip between the event and its subscribers. Any other container of the module is re-read.
   */
  #applyToKnownContainer(name: string, event: EngineEvent): boolean {
    const observed = this.#observed.get(name);
    const known = observed?.container;
    if (known && known.id !== event.id) return false;
    if (event.action === 'destroy') {
      if (!known) return true;
      this.#observe(name, { imagePresent: observed.imagePresent, container: undefined });
      this.#publish(name);
      return true;
    }
    const state = stateAfter[event.action];
    if (!state) return true;
    const base: ContainerDetails = known ?? {
      id: event.id,
      name: event.attributes.name ?? '',
      labels: event.attributes,
      image: event.attributes.image ?? '',
      state,
      startedAt: undefined,
      exitCode: undefined,
    };
    const exitCode = event.attributes.exitCode === undefined ? base.exitCode : Number(event.attributes.exitCode);
    const container: ContainerDetails = {
      ...base,
      state,
      name: event.attributes.name ?? base.name,
      startedAt: state === 'running' && event.action !== 'unpause' ? event.time : base.startedAt,
      exitCode: state === 'running' ? undefined : exitCode,
    };
    this.#observe(name, { imagePresent: true, container });
    this.#publish(name);
    return true;
  }

  #noticeFreedName({ action, attributes }: EngineEvent): void {
    // The engine names containers with a leading slash in oldName, without one in name.
    const freed = action === 'destroy' ? attributes.name : action === 'rename' ? attributes.oldName?.replace(/^\//, '') : undefined;
    const module = freed && this.#byContainerName.get(freed);
    if (module) for (const listener of this.#nameListeners) listener(module);
  }

  /** The engine stopped answering: the last known state stays, marked as such. */
  markUnreachable(): void {
    this.#engine = { ...this.#engine, reachable: false };
  }

  setHandling(name: string, handling: boolean): void {
    if (handling) this.#handling.add(name);
    else this.#handling.delete(name);
    this.#forget(name);
    this.#publish(name);
  }

  /** What an operation just read of the module's container (undefined: it has none). */
  async record(name: string, container: ContainerDetails | undefined): Promise<void> {
    await this.#refreshLocks.get(name)!.runExclusive(() => {
      const imagePresent = container !== undefined || (this.#observed.get(name)?.imagePresent ?? false);
      this.#observe(name, { imagePresent, container });
      this.#publish(name);
    });
  }

  async refreshModule(name: string): Promise<void> {
    const spec = this.#specs.get(name)!;
    await this.#refreshLocks.get(name)!.runExclusive(async () => {
      const container = await readModuleContainer(this.#docker, this.#project, spec);
      const imagePresent = container ? (this.#observed.get(name)?.imagePresent ?? true) : await this.#docker.hasImage(spec.image);
      this.#observe(name, { imagePresent, container });
      this.#publish(name);
    });
  }

  async refreshImages(): Promise<void> {
    const images = await this.#imagePresence();
    for (const [name, spec] of this.#specs) {
      const observed = this.#observed.get(name);
      this.#observe(name, { container: observed?.container, imagePresent: images.get(spec.image) ?? false });
      this.#publish(name);
    }
  }

  async #imagePresence(): Promise<Map<string, boolean>> {
    const images = [...new Set([...this.#specs.values()].map((spec) => spec.image))];
    return new Map(await Promise.all(images.map(async (image) => [image, await this.#docker.hasImage(image)] as const)));
  }

  #publish(name: string): void {
    if (!this.#synced) return;
    const module = this.get(name)!;
    const previous = this.#published.get(name);
    this.#published.set(name, module.status);
    if (previous === undefined || previous === module.status) return;
    const change: ModuleStatusChange = { module, previous, status: module.status, at: new Date() };
    this.#log.info({ module: name, previous, status: module.status, container: module.containerId }, 'module status changed');
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#log.error({ err: error }, 'a status listener failed');
      }
    }
  }
}
