import type { Logger } from 'pino';
import type { ConfigChanges } from '../config/config-diff.ts';
import type { BerthConfig, ModuleSpec } from '../config/module-spec.ts';
import { familiarReference } from '../engine/image-reference.ts';
import { containerHealth, type ContainerDetails, type EngineEvent, type EngineVersion, type ImageDetails, type NodeDetails, type ServiceDetails, type TaskDetails } from '../engine/engine-types.ts';
import { containerActions, containerAfter } from './container-events.ts';
import { labelKeys, swarmTaskLabel } from './container-spec.ts';
import { moduleDrift } from './module-drift.ts';
import { moduleHealth, moduleStatus, type ContainerStatus, type HealthStatus } from './module-status.ts';
import { isSwarmModule } from './service-spec.ts';
import { serviceStatus, type ServiceStatus } from './service-status.ts';

export interface ModuleState {
  spec: ModuleSpec;
  status: ContainerStatus;
  /**
   * The container's health as the engine reports it, whether the check is docker.yaml's or the image's.
   * NONE without a container, without a healthcheck, or before the container's first start. A stopped,
   * dead or paused container that had a healthcheck is UNHEALTHY: the engine marks a check it no
   * longer runs so, and berth shows what the engine says.
   */
  health: HealthStatus;
  containerId: string | undefined;
  startedAt: Date | undefined;
  exitCode: number | undefined;
  /** What differs between the container (a Swarm module's service) and the spec, by field (module-drift.ts); empty without one. */
  drift: readonly string[];
  /** A Swarm module's tasks: how many its service wants and how many run ({0, 0} without a service); null for a container module. */
  replicas: ServiceStatus['replicas'] | null;
}

/** A Swarm module's service as last read, with its tasks (history included); undefined service: it has none. */
interface ServiceView {
  service: ServiceDetails | undefined;
  tasks: readonly TaskDetails[];
}

/**
 * How to read each field of a module that a query can see, to tell whether a new snapshot differs from the
 * last one published. Every field must be here (the type says so). A reload replaces a module's spec only
 * when it differs, so the spec is compared by identity.
 */
const visible: { [K in keyof ModuleState]-?: (module: ModuleState) => unknown } = {
  spec: (module) => module.spec,
  status: (module) => module.status,
  health: (module) => module.health,
  containerId: (module) => module.containerId,
  startedAt: (module) => module.startedAt?.getTime(),
  exitCode: (module) => module.exitCode,
  drift: (module) => module.drift.join(' '),
  replicas: (module) => module.replicas && `${module.replicas.desired}/${module.replicas.running}`,
};

const differsVisibly = (before: ModuleState, after: ModuleState) => Object.values(visible).some((field) => field(before) !== field(after));

export interface ModuleStatusChange {
  module: ModuleState;
  /** null when the module has just been added to docker.yaml: its first status. */
  previous: ContainerStatus | null;
  status: ContainerStatus;
  at: Date;
}

export interface EngineState {
  reachable: boolean;
  version: string | undefined;
  apiVersion: string | undefined;
}

/**
 * What berth saw of the engine: the only way anything changes the store. A read carries `since`,
 * the store's mark() taken before the read began; it is dropped when the store holds an observation
 * of that module (or image) from later (an event, or a read that began after it), because that is at
 * least as fresh. A read that began later wins whichever lands first.
 */
export type Observation =
  | { type: 'container'; module: string; container: ContainerDetails | undefined; since: number }
  | { type: 'image'; reference: string; image: ImageDetails | undefined; since: number }
  /** A Swarm module's service, its tasks and the swarm's nodes, read together. */
  | { type: 'service'; module: string; service: ServiceDetails | undefined; tasks: TaskDetails[]; nodes: NodeDetails[]; since: number }
  /** Every task of the project's services: the poll that keeps Swarm modules live (the engine sends no task events). */
  | { type: 'tasks'; tasks: TaskDetails[]; since: number }
  | { type: 'event'; event: EngineEvent }
  | { type: 'handling'; module: string; handling: boolean }
  | { type: 'reachable'; version: EngineVersion }
  | { type: 'unreachable' };

/** What an observation changed, and what it could not settle alone: the engine is to be read again. */
export interface Outcome {
  changes: ModuleStatusChange[];
  /** Modules whose container is to be read again. */
  reread: string[];
  /** Image references to inspect again. */
  recheck: string[];
}

/** Image events that name only the image id and may have added, or moved to this image, any reference. */
const idOnlyArrivals = new Set(['load', 'import']);

/** Image events that may change which image a reference names: the others (push, save, prune…) cannot. */
const imageActions = ['pull', 'tag', 'untag', 'delete', ...idOnlyArrivals];

/** The engine events the store acts on: the watcher asks the engine for these only. */
export const followedActions: readonly string[] = [...containerActions, ...imageActions];

/** What a Swarm manager's service and node events add: a service made, changed (scaled, rolling) or removed; a node up or down. */
export const swarmActions: readonly string[] = ['create', 'update', 'remove'];

const nothing = (): Outcome => ({ changes: [], reread: [], recheck: [] });

/**
 * What the engine holds of each module: a pure structure that takes observations and returns the
 * status changes they make, with no engine client inside. Changes also go to listeners, once each:
 * status changes to `subscribe`rs, and any change a query could see to `onModuleChanged` listeners.
 */
export class ModuleStore {
  readonly #project: string;
  #specs: ReadonlyMap<string, ModuleSpec>;
  /** Modules a reload removed from docker.yaml, kept until their container is removed (forget). */
  readonly #retiring = new Set<string>();
  /** Modules a reload added, announced to listeners once their container has first been read. */
  readonly #announcing = new Set<string>();
  /** Module names by container name, for the events of containers berth does not own. */
  #byContainerName: ReadonlyMap<string, string>;
  #references: readonly string[];
  readonly #log: Logger | undefined;
  readonly #containers = new Map<string, ContainerDetails | undefined>();
  readonly #images = new Map<string, ImageDetails | undefined>();
  readonly #services = new Map<string, ServiceView>();
  /** The swarm's nodes as last read: a task on a node that is down does not run. */
  #nodes: readonly NodeDetails[] = [];
  /** When each module and image was last observed, in marks. */
  readonly #observedAt = new Map<string, number>();
  #mark = 0;
  readonly #handling = new Set<string>();
  /** What get() and list() answer, built once per change rather than on every query. */
  readonly #states = new Map<string, ModuleState>();
  #list: readonly ModuleState[] | undefined;
  /** The snapshot of each module that listeners last heard of (or the first look, which they are not told). */
  readonly #published = new Map<string, ModuleState>();
  readonly #listeners = new Set<(change: ModuleStatusChange) => void>();
  readonly #moduleListeners = new Set<(module: ModuleState) => void>();
  readonly #nameListeners = new Set<(module: string) => void>();
  readonly #removedListeners = new Set<(module: string) => void>();
  #engine: EngineState = { reachable: false, version: undefined, apiVersion: undefined };
  #synced = false;
  #publications = 0;
  #publishedAt = Number.NaN;
  #version = 0;

  /**
   * `announceFirstSync`: the modules are announced to listeners at the engine's first sync, as a reload's added
   * ones are, rather than taken as the first look. For an engine beside others: a monitor already subscribed to
   * them hears of its modules when berth first reaches it.
   */
  constructor({ config, logger, announceFirstSync = false }: { config: BerthConfig; logger?: Logger; announceFirstSync?: boolean }) {
    this.#project = config.project;
    this.#specs = new Map(config.modules.map((module) => [module.name, module]));
    if (announceFirstSync) for (const name of this.#specs.keys()) this.#announcing.add(name);
    this.#byContainerName = new Map();
    this.#references = [];
    this.#indexSpecs();
    this.#log = logger;
  }

  #indexSpecs(): void {
    const specs = [...this.#specs.values()];
    this.#byContainerName = new Map(specs.map((module) => [module.containerName, module.name]));
    this.#references = [...new Set(specs.map((module) => module.image))];
  }

  /**
   * A reload's new docker.yaml: added modules appear (announced once their container is read), changed ones
   * get their new spec at once, and removed ones stay, retiring, until forget() once their container is gone.
   * The modules are kept in the new file's order, the retiring ones after them.
   */
  reconfigure(config: BerthConfig, { added, removed, changed }: ConfigChanges): void {
    this.#version++;
    for (const name of removed) this.#retiring.add(name);
    for (const name of added) {
      // Declared again before its removal ended: it stays, with its new spec.
      this.#retiring.delete(name);
      this.#announcing.add(name);
    }
    const before = this.#specs;
    const retiring = [...before.values()].filter((spec) => this.#retiring.has(spec.name));
    // A module whose spec did not change keeps its spec object: snapshots compare specs by identity.
    const kept = (spec: ModuleSpec) => (changed.includes(spec.name) ? spec : (before.get(spec.name) ?? spec));
    this.#specs = new Map([...config.modules.map(kept), ...retiring].map((spec) => [spec.name, spec]));
    this.#indexSpecs();
    // Published when their image and container are read again (a new image may not be on the engine).
    for (const name of changed) this.#states.delete(name);
    this.#list = undefined;
  }

  /** True for a module a reload removed from docker.yaml, whose container is being removed. */
  retiring(name: string): boolean {
    return this.#retiring.has(name);
  }

  /** A removed module whose container is gone: no query lists it any more, and removal listeners hear of it. */
  forget(name: string): void {
    if (!this.#specs.has(name)) return;
    this.#version++;
    this.#specs = new Map([...this.#specs].filter(([known]) => known !== name));
    this.#indexSpecs();
    for (const held of [this.#containers, this.#services, this.#states, this.#published, this.#observedAt]) held.delete(held === this.#observedAt ? `module:${name}` : name);
    this.#observedAt.delete(`tasks:${name}`);
    this.#retiring.delete(name);
    this.#announcing.delete(name);
    this.#handling.delete(name);
    this.#list = undefined;
    this.#tell(this.#removedListeners, name);
  }

  /** Called with a module's name once a reload has removed it and its container is gone. */
  onModuleRemoved(listener: (module: string) => void): () => void {
    this.#removedListeners.add(listener);
    return () => this.#removedListeners.delete(listener);
  }

  get engine(): EngineState {
    return this.#engine;
  }

  /**
   * Bumped by every observation, reconfiguration and removal, whether or not it changed anything: an answer
   * computed at one version holds until the next (kept-responses.ts).
   */
  get version(): number {
    return this.#version;
  }

  /** How many observations have published changes to listeners so far: compared around one, it tells whether it did. */
  get publications(): number {
    return this.#publications;
  }

  /**
   * performance.now() when the last publication began to tell its listeners: those over graphql-ws write to their
   * sockets as they hear, so the time after it is the fan-out's, not the store's.
   */
  get publishedAt(): number {
    return this.#publishedAt;
  }

  /** True once a first resync has seen the engine. */
  get synced(): boolean {
    return this.#synced;
  }

  get specs(): Iterable<ModuleSpec> {
    return this.#specs.values();
  }

  /** Whether any module runs as a Swarm service: its engine must then be a Swarm manager, and is followed as one. */
  get swarm(): boolean {
    return [...this.#specs.values()].some(isSwarmModule);
  }

  /** The image references docker.yaml names, each once. */
  get references(): readonly string[] {
    return this.#references;
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
    const state = isSwarmModule(spec) ? this.#swarmState(spec) : this.#containerState(spec);
    this.#states.set(name, state);
    return state;
  }

  #containerState(spec: ModuleSpec): ModuleState {
    const container = this.#containers.get(spec.name);
    const status = this.#handling.has(spec.name) ? 'HANDLING' : moduleStatus(this.#images.get(spec.image) !== undefined, container?.state);
    const health = moduleHealth(container?.health);
    const drift = moduleDrift(spec, container, this.#images.get(spec.image)?.id);
    return { spec, status, health, containerId: container?.id, startedAt: container?.startedAt, exitCode: container?.exitCode, drift, replicas: null };
  }

  /** A Swarm module: its status from its service's tasks (service-status.ts); without a service, whether its image is there. */
  #swarmState(spec: ModuleSpec): ModuleState {
    const { service, tasks } = this.#services.get(spec.name) ?? { service: undefined, tasks: [] };
    const read = service ? serviceStatus(service, tasks, this.#nodes) : { status: moduleStatus(this.#images.get(spec.image) !== undefined, undefined), replicas: { desired: 0, running: 0 } };
    const status = this.#handling.has(spec.name) ? 'HANDLING' : read.status;
    const drift = service ? moduleDrift(spec, service, undefined) : [];
    return { spec, status, health: 'NONE', containerId: undefined, startedAt: undefined, exitCode: undefined, drift, replicas: read.replicas };
  }

  /** The module's container as the last observation left it; undefined when it has none. */
  container(name: string): ContainerDetails | undefined {
    return this.#containers.get(name);
  }

  /** The image as last observed; undefined when absent or never looked at. */
  image(reference: string): ImageDetails | undefined {
    return this.#images.get(reference);
  }

  /** Taken before a read of the engine begins, and handed back with what it read: each mark is later than the last. */
  mark(): number {
    return ++this.#mark;
  }

  /** Status changes only: a change of health or container alone is not one. */
  subscribe(listener: (change: ModuleStatusChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Called with the new snapshot once per observation that replaced a module's snapshot with one a query
   * would answer differently (status, health, container, start, exit code); after the status changes of
   * the same observation have gone to `subscribe`rs.
   */
  onModuleChanged(listener: (module: ModuleState) => void): () => void {
    this.#moduleListeners.add(listener);
    return () => this.#moduleListeners.delete(listener);
  }

  /**
   * Called with a module's name when a container berth does not own gives up the module's container
   * name (removed or renamed): what NAME_CONFLICT refused may now go ahead.
   */
  onNameFreed(listener: (module: string) => void): () => void {
    this.#nameListeners.add(listener);
    return () => this.#nameListeners.delete(listener);
  }

  observe(observation: Observation): Outcome {
    this.#version++;
    switch (observation.type) {
      case 'container':
        return this.#observeContainer(observation.module, observation.container, observation.since);
      case 'image':
        return this.#observeImage(observation.reference, observation.image, observation.since);
      case 'service':
        return this.#observeService(observation);
      case 'tasks':
        return this.#observeTasks(observation.tasks, observation.since);
      case 'event':
        return this.#event(observation.event);
      case 'handling':
        return this.#setHandling(observation.module, observation.handling);
      case 'reachable':
        return this.#reachable(observation.version);
      case 'unreachable':
        this.#engine = { ...this.#engine, reachable: false };
        return nothing();
    }
  }

  #isNewer(key: string, since: number): boolean {
    if ((this.#observedAt.get(key) ?? 0) > since) return false;
    this.#observedAt.set(key, since);
    return true;
  }

  #observeContainer(name: string, container: ContainerDetails | undefined, since: number): Outcome {
    if (!this.#specs.has(name) || !this.#isNewer(`module:${name}`, since)) return nothing();
    this.#containers.set(name, container);
    return this.#publish([name]);
  }

  #observeService({ module: name, service, tasks, nodes, since }: Observation & { type: 'service' }): Outcome {
    if (!this.#specs.has(name) || !this.#isNewer(`module:${name}`, since)) return nothing();
    // A poll that began later and answered first has newer tasks of the same service, but only the read has its service.
    const known = this.#services.get(name);
    const polledLater = !this.#isNewer(`tasks:${name}`, since) && known?.service?.id === service?.id;
    this.#services.set(name, { service, tasks: polledLater ? known!.tasks : tasks });
    if (!this.#isNewer('nodes', since)) return this.#publish([name]);
    this.#nodes = nodes;
    // A node that went or came changes the other Swarm modules' status too.
    return this.#publish(this.#swarmModules());
  }

  /** Each Swarm module whose service is known takes its tasks from the poll, unless its tasks were read since the poll began. */
  #observeTasks(tasks: readonly TaskDetails[], since: number): Outcome {
    const polled = [...this.#services].filter(([name, { service }]) => service && this.#isNewer(`tasks:${name}`, since));
    for (const [name, view] of polled) this.#services.set(name, { ...view, tasks: tasks.filter((task) => task.serviceId === view.service!.id) });
    return this.#publish(polled.map(([name]) => name));
  }

  #swarmModules(): string[] {
    return [...this.#specs.values()].filter(isSwarmModule).map((spec) => spec.name);
  }

  #event(event: EngineEvent): Outcome {
    switch (event.type) {
      case 'image':
        return this.#imageEvent(event);
      case 'container':
        return this.#containerEvent(event);
      // A service event names the service (its module's container name): its module is read again.
      case 'service': {
        const name = this.#byContainerName.get(event.attributes.name ?? '');
        return { ...nothing(), reread: name && isSwarmModule(this.#specs.get(name)!) ? [name] : [] };
      }
      // A node up or down changes which tasks run: every Swarm module is read again, with the nodes.
      case 'node':
        return { ...nothing(), reread: this.#swarmModules() };
    }
  }

  #observeImage(reference: string, image: ImageDetails | undefined, since: number): Outcome {
    if (!this.#isNewer(`image:${reference}`, since)) return nothing();
    this.#images.set(reference, image);
    return this.#publish([...this.#specs.values()].filter((spec) => spec.image === reference).map((spec) => spec.name));
  }

  #reachable(version: EngineVersion): Outcome {
    this.#engine = { reachable: true, ...version };
    this.#synced = true;
    return this.#publish([...this.#specs.keys()]);
  }

  #setHandling(name: string, handling: boolean): Outcome {
    if (handling) this.#handling.add(name);
    else this.#handling.delete(name);
    return this.#publish([name]);
  }

  /**
   * The event's own facts (state, exit code, time, health) are enough for the module's container: no
   * engine round-trip between the event and its subscribers. Any other container of the module is read
   * again, and so is one whose healthcheck berth never read, which no event tells, and one whose
   * health_status event gives no verdict (Podman's), which an inspect does.
   */
  #containerEvent(event: EngineEvent): Outcome {
    const { attributes } = event;
    if (attributes[labelKeys.managed] !== 'true' || attributes[labelKeys.project] !== this.#project) {
      this.#noticeFreedName(event);
      return nothing();
    }
    const name = attributes[labelKeys.module];
    if (!name || !this.#specs.has(name)) return nothing();
    // A Swarm task's container (it carries its service's labels): its service is read again, sooner than the poll.
    if (attributes[swarmTaskLabel] !== undefined) return { ...nothing(), reread: isSwarmModule(this.#specs.get(name)!) ? [name] : [] };
    const known = this.#containers.get(name);
    if (known && known.id !== event.id) return { ...nothing(), reread: [name] };
    // Gone: the module has no container, unless another of its own is left, which a read will tell.
    if (event.action === 'destroy') return known ? { ...this.#afterEvent(name, undefined), reread: [name] } : nothing();
    const container = containerAfter(known, event);
    if (!container) return nothing();
    const outcome = this.#afterEvent(name, container);
    if (container.healthcheck === undefined || (event.action === 'health_status' && !containerHealth(event.detail))) outcome.reread.push(name);
    return outcome;
  }

  #afterEvent(name: string, container: ContainerDetails | undefined): Outcome {
    this.#observedAt.set(`module:${name}`, this.mark());
    this.#containers.set(name, container);
    const outcome = this.#publish([name]);
    // A module left without a container shows whether its image is there: never looked at, look now.
    const reference = this.#specs.get(name)!.image;
    if (!container && !this.#observedAt.has(`image:${reference}`)) outcome.recheck.push(reference);
    return outcome;
  }

  /**
   * Image events re-inspect only the references docker.yaml names that the event may have touched. A load
   * re-inspects them all: it names only the id it loaded, and may have moved a declared tag to it (loads are rare).
   */
  #imageEvent(event: EngineEvent): Outcome {
    const named = [event.id, event.attributes.name].filter((name): name is string => !!name && !name.startsWith('sha256:')).map(familiarReference);
    const recheck = this.#references.filter((reference) => {
      const image = this.#images.get(reference);
      return image?.id === event.id || named.includes(familiarReference(reference)) || idOnlyArrivals.has(event.action);
    });
    return { ...nothing(), recheck };
  }

  #noticeFreedName({ action, attributes }: EngineEvent): void {
    // The engine names containers with a leading slash in oldName, without one in name.
    const freed = action === 'destroy' ? attributes.name : action === 'rename' ? attributes.oldName?.replace(/^\//, '') : undefined;
    const module = freed && this.#byContainerName.get(freed);
    if (module) for (const listener of this.#nameListeners) listener(module);
  }

  #publish(names: readonly string[]): Outcome {
    const outcome = nothing();
    const changed: ModuleState[] = [];
    for (const name of names) {
      this.#states.delete(name);
      this.#list = undefined;
      if (!this.#synced) continue;
      const module = this.get(name)!;
      const previous = this.#published.get(name);
      if (previous === undefined && this.#announcing.has(name)) {
        // An added module is announced once, after its container's first read: with its status as the engine has it.
        if (!this.#observedAt.has(`module:${name}`)) continue;
        this.#announcing.delete(name);
        changed.push(module);
        outcome.changes.push({ module, previous: null, status: module.status, at: new Date() });
      }
      this.#published.set(name, module);
      if (previous === undefined || !differsVisibly(previous, module)) continue;
      changed.push(module);
      if (previous.health !== module.health) this.#log?.info({ module: name, previous: previous.health, health: module.health }, 'module health changed');
      if (previous.status !== module.status) outcome.changes.push({ module, previous: previous.status, status: module.status, at: new Date() });
    }
    if (changed.length > 0) this.#publishedAt = performance.now();
    for (const change of outcome.changes) this.#notify(change);
    for (const module of changed) this.#tell(this.#moduleListeners, module);
    if (changed.length > 0) this.#publications++;
    return outcome;
  }

  #notify(change: ModuleStatusChange): void {
    const { module, previous, status } = change;
    this.#log?.info({ module: module.spec.name, previous, status, container: module.containerId }, 'module status changed');
    this.#tell(this.#listeners, change);
  }

  /** Every listener hears of it, whichever of them throws. */
  #tell<T>(listeners: ReadonlySet<(value: T) => void>, value: T): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (error) {
        this.#log?.error({ err: error }, 'a module listener failed');
      }
    }
  }
}
