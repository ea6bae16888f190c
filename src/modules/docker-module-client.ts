import type { Readable } from 'node:stream';
import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import { defaultEngine, type Dependency, type ModuleSpec, type RegistryCredentials } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import { engineStatusCode, type Redact } from '../engine/engine-error.ts';
import type { ContainerDetails } from '../engine/engine-types.ts';
import { BerthError } from '../errors.ts';
import { endWhen } from '../lib/async-iteration.ts';
import { AuditLog } from '../lib/audit-log.ts';
import { pause } from '../lib/timing.ts';
import { containerCreateOptions, isOwnedBy, labelKeys, moduleLabels, specDigest } from './container-spec.ts';
import { stopFirst, underWay, verdict } from './dependencies.ts';
import { ModuleUpdates } from './module-updates.ts';
import { ImagePulls, type ImagePull } from './image-pulls.ts';
import type { ModuleReader } from './module-reader.ts';
import { ImageLoader } from './image-loader.ts';
import type { FollowedLogLine } from './log-follower.ts';
import { ModuleLogs, type LogRequest } from './module-logs.ts';
import { bindSourceMissing, isAmbiguousNetwork, isMissingNetwork, ModuleResources } from './module-resources.ts';
import { ModuleStatsStreams, type ModuleStats, type StatsSubscriberOptions } from './module-stats.ts';
import type { ContainerStatus } from './module-status.ts';
import type { ModuleState, ModuleStore } from './module-store.ts';
import { startSeen, untilModule, type StartAsked } from './module-waits.ts';
import { isSwarmModule } from './service-spec.ts';
import { SwarmModules } from './swarm-modules.ts';

export type { ModuleState } from './module-store.ts';

export interface DockerModuleClientOptions {
  docker: DockerClient;
  store: ModuleStore;
  reader: ModuleReader;
  project: string;
  logger: Logger;
  /**
   * Asked when an operation finds the engine marked down, before refusing: true once the engine answers
   * again and berth has listed it. Default: the engine stays down until the watcher sees it back.
   */
  reconnect?: () => Promise<boolean>;
  /** How long a start waits for each dependency to reach its condition (started, healthy, completed). Default 300 s. */
  dependencyTimeoutMs?: number;
  /** Credentials by registry host, for pulls; default none. */
  registries?: Readonly<Record<string, RegistryCredentials>>;
  /** How long an applied module's new container has to run (and be healthy) before it is rolled back. Default 60 s. */
  updateTimeoutMs?: number;
  /** Where applies are written down; default an audit log on `logger`. */
  audit?: AuditLog;
  /** Scrubs secrets from a rolled-back container's log or health output in a reason; default none. */
  redact?: Redact;
  /** The name of the engine it drives, for messages; default `local`. */
  engine?: string;
  /**
   * How long a start of a container berth has read before waits for the engine's start event to show in the store,
   * before it reads the container instead (an event delayed, a watcher disconnected). Default 100 ms.
   */
  startEventWaitMs?: number;
}

/** How to apply an update. */
export interface ApplyOptions {
  /** berth's own apply of an `update: auto` module, audited here as `berth`; a request's is audited by the API. */
  byBerth?: boolean;
  /** How long the old container gets to stop before it is killed; default 10 s. */
  timeoutSeconds?: number;
}

export const maxStopTimeoutSeconds = 3600;

/**
 * berth's modules on one engine. Reads come from the store; start and stop act on the engine, one
 * operation per module at a time, showing HANDLING while under way, and hand the store what they saw.
 */
export class DockerModuleClient {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #reader: ModuleReader;
  readonly #project: string;
  readonly #locks = new Map<string, Mutex>();
  readonly #log: Logger;
  readonly #reconnect: () => Promise<boolean>;
  readonly #resources: ModuleResources;
  readonly #logs: ModuleLogs;
  readonly #dependencyTimeoutMs: number;
  readonly #images: ImageLoader;
  readonly #pulls: ImagePulls;
  readonly #stats: ModuleStatsStreams;
  readonly #updates: ModuleUpdates;
  /** The operations of Swarm modules, which are services rather than containers. */
  readonly #swarm: SwarmModules;
  readonly #audit: AuditLog;
  /** The engine as messages name it: "the Docker engine" alone, `engine "gpu"` beside others. */
  readonly #engineName: string;
  /** The applies under way, by module: a dependent's waits for its dependencies'. */
  readonly #applying = new Map<string, Promise<ModuleState>>();
  /** What each module was last applied towards (tried()). */
  readonly #triedTowards = new Map<string, string>();
  readonly #startEventWaitMs: number;

  constructor(options: DockerModuleClientOptions) {
    const { docker, store, reader, project, logger, reconnect = async () => false, dependencyTimeoutMs = 300_000, registries = {}, engine = defaultEngine } = options;
    this.#engineName = engine === defaultEngine ? 'the Docker engine' : `engine "${engine}"`;
    this.#docker = docker;
    this.#store = store;
    this.#reader = reader;
    this.#project = project;
    this.#log = logger;
    this.#reconnect = reconnect;
    // On a Swarm manager with Swarm modules the project's networks are overlay ones, which services can join.
    this.#resources = new ModuleResources({ docker, project, logger, overlay: () => store.swarm && reader.manager, apiVersion: () => store.engine.apiVersion });
    this.#logs = new ModuleLogs({ docker, store, logger });
    this.#dependencyTimeoutMs = dependencyTimeoutMs;
    this.#startEventWaitMs = options.startEventWaitMs ?? 100;
    this.#images = new ImageLoader({ docker, store, reader, logger });
    this.#pulls = new ImagePulls({ docker, store, reader, registries, logger });
    this.#stats = new ModuleStatsStreams({ docker, store, logger });
    this.#audit = options.audit ?? new AuditLog(logger);
    const steps = {
      owned: (spec: ModuleSpec) => this.#ownedContainer(spec),
      create: (spec: ModuleSpec) => this.#create(spec),
      start: (spec: ModuleSpec, id: string) => this.#startContainer(spec, id),
      remove: (id: string) => this.#removeIfThere(id),
    };
    this.#updates = new ModuleUpdates({ docker, store, reader, project, steps, logger, timeoutMs: options.updateTimeoutMs, redact: options.redact });
    const prepare = (spec: ModuleSpec) => this.#resources.prepare(spec);
    this.#swarm = new SwarmModules({ docker, store, reader, project, logger, prepare, engineName: this.#engineName, settleTimeoutMs: options.updateTimeoutMs ?? 60_000 });
  }

  /** A `docker save` archive, streamed to the engine as it arrives; answers the references loaded. */
  loadImages(archive: Readable, until: AbortSignal): Promise<string[]> {
    return this.#images.load(archive, until);
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

  onModuleChanged(...args: Parameters<ModuleStore['onModuleChanged']>): ReturnType<ModuleStore['onModuleChanged']> {
    return this.#store.onModuleChanged(...args);
  }

  onModuleRemoved(...args: Parameters<ModuleStore['onModuleRemoved']>): ReturnType<ModuleStore['onModuleRemoved']> {
    return this.#store.onModuleRemoved(...args);
  }

  /** One subscriber's stats of the named modules (all when none, a reload's too) while each runs; unknown names are MODULE_NOT_FOUND. */
  stats(names: readonly string[] | undefined, options?: StatsSubscriberOptions): AsyncIterableIterator<ModuleStats> {
    const declared = this.select(names);
    for (const { spec } of names ? declared : []) refuseSwarm(spec, 'its stats', 'docker stats');
    return this.#whileDeclared(names ?? [], this.#stats.subscribe(names ? declared : 'all', options));
  }

  /** A subscription that names modules ends once a reload has removed one of them (and its container is gone). */
  #whileDeclared<T>(names: readonly string[], source: AsyncIterable<T>): AsyncIterableIterator<T> {
    return endWhen(source, () => names.every((name) => this.#store.spec(name) !== undefined), (listener) => this.#store.onModuleRemoved(listener));
  }

  /** Credentials by registry host for the pulls from now on: a reload's. */
  useRegistries(registries: Readonly<Record<string, RegistryCredentials>>): void {
    this.#pulls.useRegistries(registries);
  }

  /**
   * A module a reload removed: after the operation under way on it (the module's lock), its container is
   * stopped and removed, never its volumes, and the store forgets it. Operations that come later are refused.
   */
  async retire(name: string, timeoutSeconds: number): Promise<void> {
    const spec = this.#spec(name);
    await this.#operate(spec, async () => {
      // Declared again by a later reload while this waited: it stays.
      if (!this.#store.retiring(name)) return undefined;
      if (isSwarmModule(spec)) return this.#swarm.remove(spec).then(() => undefined);
      // Every container of the module: one an unfinished update left aside too.
      for (const container of await this.#docker.containers.list(moduleLabels(this.#project, spec))) {
        await this.#docker.containers.stop(container.id, timeoutSeconds);
        await this.#removeIfThere(container.id);
        this.#log.info({ module: name, container: container.id }, 'removed the container of a module no longer in docker.yaml');
      }
      return undefined;
    }, undefined, { retiring: true });
    if (this.#store.retiring(name)) this.#store.forget(name);
  }

  /** The last lines of the module's container's log (Module.logs); none without a container. */
  async logs(name: string, request: LogRequest): Promise<FollowedLogLine[]> {
    refuseSwarm(this.get(name).spec, 'its log', 'docker service logs');
    return this.#logs.read(this.get(name).spec.name, request);
  }

  /** The module's log followed across its container's restarts, until the container is gone (moduleLogs). */
  async followLogs(name: string, request: LogRequest): Promise<AsyncIterableIterator<FollowedLogLine>> {
    refuseSwarm(this.get(name).spec, 'its log', 'docker service logs');
    return this.#logs.follow(this.get(name).spec.name, request);
  }

  /**
   * Brings its dependencies to their conditions first, in order; one that cannot is DEPENDENCY_FAILED, the
   * module untouched. A running module is left as it is, and its dependencies too.
   */
  async start(name: string): Promise<ModuleState> {
    const spec = this.#spec(name);
    if (this.#store.get(name)?.status !== 'RUNNING') await this.#satisfy(spec);
    return this.#operate(spec, (current) => this.#startWork(current));
  }

  /**
   * A start for what has no container: when its turn comes under the module's lock, a module that got one
   * meanwhile (a dependent's start ran it: a job, say) is left as it is, so that nothing runs twice.
   */
  async autostart(name: string): Promise<ModuleState> {
    const spec = this.#spec(name);
    const created = (state: ModuleState | undefined) => state?.status !== 'NOT_CREATED';
    if (created(this.#store.get(name))) return this.#store.get(name)!;
    await this.#satisfy(spec);
    return this.#operate(spec, (current) => this.#startWork(current), created);
  }

  /** Each named module started as start() does, at once: dependency order comes from each start's own. One promise per name. */
  startMany(names: readonly string[]): Promise<ModuleState>[] {
    return names.map((name) => this.start(name));
  }

  /** Each named module stopped after those of the batch that depend on it. One promise per name. */
  stopMany(names: readonly string[], timeoutSeconds: number): Promise<ModuleState>[] {
    checkTimeout(timeoutSeconds);
    const first = stopFirst(names, (name) => this.#store.spec(name));
    const stops = new Map<string, Promise<ModuleState>>();
    const stopAfterDependents = (name: string): Promise<ModuleState> => {
      let stop = stops.get(name);
      if (!stop) {
        const dependents = (first.get(name) ?? []).map(stopAfterDependents);
        stops.set(name, (stop = Promise.allSettled(dependents).then(() => this.stop(name, timeoutSeconds))));
      }
      return stop;
    };
    return names.map(stopAfterDependents);
  }

  /**
   * Recreates a drifted module from docker.yaml (ModuleUpdates), running or not as it was; a running one's
   * dependencies are brought to their conditions first, after the applies under way on them. One without
   * drift is answered untouched. Audited.
   */
  async apply(name: string, options: ApplyOptions): Promise<ModuleState> {
    const spec = this.#spec(name);
    checkTimeout(options.timeoutSeconds ?? 0);
    this.#triedTowards.set(name, this.#towards(spec));
    const dependencies = spec.dependsOn.flatMap(({ module }) => this.#applying.get(module) ?? []);
    const applying = Promise.allSettled(dependencies).then(() => this.#applyNow(spec, options));
    this.#applying.set(name, applying);
    try {
      return await applying;
    } catch (error) {
      // The engine went: the update was not tried.
      if (error instanceof BerthError && error.code === 'ENGINE_UNAVAILABLE') this.#triedTowards.delete(name);
      throw error;
    } finally {
      if (this.#applying.get(name) === applying) this.#applying.delete(name);
    }
  }

  /**
   * Whether an apply (berth's own or an operator's) was already tried towards the module's spec and image in
   * force: an update that was rolled back is not tried again by berth until one of them changes.
   */
  tried(name: string): boolean {
    const spec = this.#store.spec(name);
    return spec !== undefined && this.#triedTowards.get(name) === this.#towards(spec);
  }

  #towards(spec: ModuleSpec): string {
    return `${specDigest(spec)} ${this.#store.image(spec.image)?.id}`;
  }

  async #applyNow(spec: ModuleSpec, { byBerth = false, timeoutSeconds = 10 }: ApplyOptions): Promise<ModuleState> {
    const { name } = spec;
    const drift = [...(this.#store.get(name)?.drift ?? [])];
    const apply = async () => {
      if (this.#store.get(name)?.status === 'RUNNING' && drift.length > 0) await this.#satisfy(spec);
      const update = isSwarmModule(spec) ? () => this.#swarm.apply(spec, timeoutSeconds).then(() => undefined) : () => this.#updates.apply(spec, timeoutSeconds);
      return this.#operate(spec, update, (state) => state.drift.length === 0);
    };
    if (!byBerth) return apply();
    return this.#audit.time({ principal: 'berth', operation: 'applyModule', modules: [name], details: { drift } }, apply, applyOutcome);
  }

  /** Each named module applied as apply() does, after those of the batch it depends on. One promise per name. */
  applyMany(names: readonly string[], options: ApplyOptions): Promise<ModuleState>[] {
    const dependents = stopFirst(names, (name) => this.#store.spec(name));
    const applies = new Map<string, Promise<ModuleState>>();
    const applyAfterDependencies = (name: string): Promise<ModuleState> => {
      let apply = applies.get(name);
      if (!apply) {
        const dependencies = names.filter((other) => dependents.get(other)?.includes(name)).map(applyAfterDependencies);
        applies.set(name, (apply = Promise.allSettled(dependencies).then(() => this.apply(name, options))));
      }
      return apply;
    };
    return names.map(applyAfterDependencies);
  }

  /**
   * The `update: auto` modules among `names` (all when none) that drifted, applied by `auto`, dependencies
   * first: for a new image, and for a reload that changed them. One promise per module applied, by name.
   */
  applyDrifted(names: readonly string[] = [...this.#store.specs].map((spec) => spec.name)): Map<string, Promise<ModuleState>> {
    const drifted = names.filter((name) => this.#store.spec(name)?.update === 'auto' && (this.#store.get(name)?.drift.length ?? 0) > 0);
    // Tried from now on: a dependent's apply begins only after its dependencies'.
    for (const name of drifted) this.#triedTowards.set(name, this.#towards(this.#store.spec(name)!));
    const applies = this.applyMany(drifted, { byBerth: true });
    return new Map(drifted.map((name, index) => [name, applies[index]!]));
  }

  /**
   * At each sync: updates left unfinished (by a stopped berth, or by an engine gone mid-update) are undone
   * (ModuleUpdates), each under its module's lock; one whose module is busy is left to the operation under way.
   * The containers left aside of a module docker.yaml no longer has are removed.
   */
  async recoverUpdates(): Promise<void> {
    for (const [name, ids] of await this.#updates.interrupted()) {
      const spec = this.#store.spec(name);
      if (!spec) for (const id of ids) await this.#removeIfThere(id);
      else if (!this.#lock(name).isLocked() && !this.#store.retiring(name)) await this.#operate(spec, () => this.#updates.recover(spec));
    }
  }

  /** Starts pulling the module's declared image, or joins the pull under way (ImagePulls). */
  async pullImage(name: string): Promise<ImagePull> {
    return this.#pulls.start(this.#spec(name));
  }

  /** The module image's pull as it goes, until it ends (ImagePulls). */
  followPull(name: string): AsyncIterableIterator<ImagePull> {
    return this.#whileDeclared([name], this.#pulls.follow(this.#spec(name)));
  }

  /** Cancels the pulls under way: berth is stopping. */
  stopPulls(): void {
    this.#pulls.stop();
  }

  #startWork(spec: ModuleSpec): Promise<Acted> {
    if (isSwarmModule(spec)) return this.#swarm.start(spec).then(() => undefined);
    return this.#startKnownContainer(spec).then((id) => id ?? this.#startFromEngine(spec));
  }

  async stop(name: string, timeoutSeconds: number): Promise<ModuleState> {
    const spec = this.#spec(name);
    checkTimeout(timeoutSeconds);
    return this.#operate(spec, (current) => this.#stop(current, timeoutSeconds));
  }

  /** Stop, then start, as one operation under the module's lock: nothing runs between the two. */
  async restart(name: string, timeoutSeconds: number): Promise<ModuleState> {
    const spec = this.#spec(name);
    checkTimeout(timeoutSeconds);
    await this.#satisfy(spec);
    return this.#operate(spec, async (current) => {
      if (isSwarmModule(current)) return this.#swarm.restart(current, timeoutSeconds).then(() => undefined);
      await this.#stop(current, timeoutSeconds);
      return this.#startFromEngine(current);
    });
  }

  async #stop(spec: ModuleSpec, timeoutSeconds: number): Promise<string | undefined> {
    if (isSwarmModule(spec)) return this.#swarm.stop(spec, timeoutSeconds).then(() => undefined);
    const container = await this.#ownedContainer(spec);
    if (!container) {
      await this.#refuseForeignContainer(spec);
      return undefined;
    }
    await this.#docker.containers.stop(container.id, timeoutSeconds);
    this.#log.info({ module: spec.name, container: container.id }, 'module stopped');
    return container.id;
  }

  /**
   * Every dependency of the module at its condition, each brought there at once (their own dependencies
   * first). The first that fails answers: the others go on, as starts of their own.
   */
  async #satisfy(spec: ModuleSpec): Promise<void> {
    await Promise.all(spec.dependsOn.map((dependency) => this.#bring(spec, dependency)));
  }

  async #bring(dependent: ModuleSpec, { module, condition }: Dependency): Promise<void> {
    const spec = this.#spec(module);
    const current = () => this.#store.container(module)?.labels[labelKeys.spec] === specDigest(spec);
    const nothingToDo = (state: ModuleState) => underWay(condition, state, current());
    try {
      // One that runs (or completed) is left as it is, and its own dependencies too, as start() leaves them.
      if (!nothingToDo(this.#store.get(module)!)) {
        await this.#satisfy(spec);
        await this.#operate(spec, (current) => this.#startWork(current), nothingToDo);
      }
      await this.#until(module, condition);
    } catch (error) {
      if (error instanceof BerthError && error.code === 'ENGINE_UNAVAILABLE') throw error;
      const reason = error instanceof BerthError ? error.message : 'it could not be started';
      if (!(error instanceof BerthError)) this.#log.error({ err: error, module }, 'a dependency failed to start');
      throw new BerthError('DEPENDENCY_FAILED', `module "${dependent.name}" needs "${module}" ${condition}, and it is not: ${reason}`);
    }
  }

  /**
   * Resolves once the module meets the condition; fails when it never will, or after the dependency timeout.
   * A dependency fails when it turns unhealthy: one unhealthy from the start may be a container just
   * unpaused, which shows the engine's last verdict until its next check, and gets until the timeout.
   */
  #until(module: string, condition: Dependency['condition']): Promise<void> {
    let staleHealth = this.#store.get(module)!.health === 'UNHEALTHY';
    const seconds = Math.round(this.#dependencyTimeoutMs / 1000);
    const late = () => {
      const { status, health } = this.#store.get(module)!;
      return new BerthError('DEPENDENCY_FAILED', `it was not ${condition} within ${seconds} s (BERTH_DEPENDENCY_TIMEOUT_SECONDS); it is ${status}, health ${health}`);
    };
    return untilModule(this.#store, module, this.#dependencyTimeoutMs, (state) => {
      staleHealth &&= state.health === 'UNHEALTHY';
      const result = verdict(condition, staleHealth ? { ...state, health: 'STARTING' } : state, this.#store.container(module)?.healthcheck);
      if (!result.met && result.never) throw new BerthError('DEPENDENCY_FAILED', result.never);
      return result.met;
    }, late);
  }

  #spec(name: string): ModuleSpec {
    const spec = this.#store.spec(name);
    if (!spec) throw new BerthError('MODULE_NOT_FOUND', `no module named "${name}" in docker.yaml`);
    return spec;
  }

  #requireFirstSync(): void {
    if (!this.#store.synced) throw engineUnavailable(`berth has not yet seen ${this.#engineName}`);
  }

  #lock(name: string): Mutex {
    let lock = this.#locks.get(name);
    if (!lock) this.#locks.set(name, (lock = new Mutex()));
    return lock;
  }

  /**
   * Runs work under the module's lock; work returns the id of the container it acted on, if any. `done`,
   * asked once the lock is held, can say there is nothing to do.
   */
  async #operate(
    declared: ModuleSpec,
    work: (spec: ModuleSpec) => Promise<Acted>,
    done?: (state: ModuleState) => boolean,
    { retiring = false } = {},
  ): Promise<ModuleState> {
    if (!this.#store.engine.reachable && !(await this.#reconnect())) throw engineUnavailable(`${this.#engineName} cannot be reached`);
    return this.#lock(declared.name).runExclusive(async () => {
      // A reload may have come while this waited for the lock: the module's spec is the one in force now.
      const spec = this.#store.spec(declared.name);
      if (!spec || (this.#store.retiring(spec.name) && !retiring)) throw removedModule(declared.name);
      if (done?.(this.#store.get(spec.name)!)) return this.#store.get(spec.name)!;
      this.#store.observe({ type: 'handling', module: spec.name, handling: true });
      try {
        await this.#readAfter(spec, await work(spec));
      } catch (error) {
        await this.#readAfter(spec).catch((reread: Error) => this.#log.warn({ err: reread }, 'could not read the module again after a failed operation'));
        throw error;
      } finally {
        this.#store.observe({ type: 'handling', module: spec.name, handling: false });
      }
      return this.#store.get(spec.name)!;
    });
  }

  /**
   * What the operation left. A start of a container the store knows in full is shown by the engine's own start
   * event (startSeen), with no engine call. Otherwise one inspect of the container it acted on, or the module
   * read again; without a container, whether its image is there (NOT_CREATED or NOT_LOADED). An event of the
   * operation's own change that the store took while the inspect ran (Podman's come late) makes the store
   * drop the read, and holds only what events tell (no healthcheck, the event's time as start time): read once more.
   */
  async #readAfter(spec: ModuleSpec, acted?: Acted): Promise<void> {
    if (typeof acted === 'object' && (await startSeen(this.#store, spec.name, acted, this.#startEventWaitMs))) return;
    const id = idOf(acted);
    const read = () => (id ? this.#reader.containerById(spec, id) : this.#reader.module(spec));
    let observation = await read();
    this.#store.observe(observation);
    if (observation.type === 'container' && this.#store.container(spec.name) !== observation.container) {
      observation = await read();
      this.#store.observe(observation);
    }
    const running = observation.type === 'container' ? observation.container : observation.service;
    if (!running) this.#store.observe(await this.#reader.image(spec.image));
  }

  /**
   * The common start, with no engine read before it: the store, fed by the engine's events, knows the
   * module's container (berth's, of this project and module), and it can be started as it is.
   * Where the store is behind the engine (the container was removed, paused or is being removed,
   * and the event is still on its way), the engine refuses with 404 or 409 and the start takes the
   * path that reads the engine first. Answers the id of the container it started.
   * A paused one is unpaused with no inspect before: the engine holds an inspect of a paused container
   * while one of its healthchecks is under way, up to the check's timeout (30 s by default).
   */
  async #startKnownContainer(spec: ModuleSpec): Promise<Acted> {
    const known = this.#store.container(spec.name);
    if (!known || (known.state !== 'paused' && !startsAsIs(known, spec))) return undefined;
    const paused = known.state === 'paused';
    let acted: Acted;
    try {
      acted = paused ? await this.#docker.containers.unpause(known.id).then(() => known.id) : await this.#startAsked(spec, known);
    } catch (error) {
      const status = engineStatusCode(error);
      if (status === 404 || status === 409) return undefined;
      throw error;
    }
    this.#log.info({ module: spec.name, container: idOf(acted) }, paused ? 'module unpaused' : 'module started');
    return acted;
  }

  /** A start of a stopped container, with when it was asked; one of a running container changes nothing, and sends no event. */
  async #startAsked(spec: ModuleSpec, container: ContainerDetails): Promise<Acted> {
    const askedAt = Date.now();
    const id = await this.#startContainer(spec, container.id);
    return container.state === 'running' ? id : { id, askedAt, previousStart: container.startedAt?.getTime() };
  }

  async #startFromEngine(spec: ModuleSpec): Promise<Acted> {
    let container = await this.#ownedContainer(spec);
    if (container?.state === 'paused') {
      await this.#docker.containers.unpause(container.id);
      this.#log.info({ module: spec.name, container: container.id }, 'module unpaused');
      return container.id;
    }
    if (container && !startsAsIs(container, spec)) {
      this.#log.info({ module: spec.name, container: container.id, state: container.state }, 'recreating the container: docker.yaml changed since it was made, or it is dead');
      await this.#removeIfThere(container.id);
      container = undefined;
    }
    const acted = container ? await this.#startAsked(spec, container) : await this.#startContainer(spec, await this.#create(spec));
    this.#log.info({ module: spec.name, container: idOf(acted) }, 'module started');
    return acted;
  }

  /**
   * Starts the container, and answers the id of the one it started. A network name made twice (by two
   * berths at once) is settled and the start tried again; a network removed since the container was made
   * (a prune while the project was stopped) is made again, with a new container.
   */
  async #startContainer(spec: ModuleSpec, id: string): Promise<string> {
    try {
      await this.#docker.containers.start(id);
      return id;
    } catch (error) {
      const missing = bindSourceMissing(spec, error);
      if (missing) throw missing;
      if (isAmbiguousNetwork(error)) {
        await this.#resources.prepare(spec);
        await this.#docker.containers.start(id);
        return id;
      }
      if (!isMissingNetwork(error)) throw error;
      this.#log.info({ module: spec.name, container: id }, "recreating the container: one of its networks was removed");
      await this.#removeIfThere(id);
      const fresh = await this.#create(spec);
      await this.#docker.containers.start(fresh);
      return fresh;
    }
  }

  async #ownedContainer(spec: ModuleSpec): Promise<ContainerDetails | undefined> {
    // The store's container, when it still is this module's, saves listing the engine.
    const knownId = this.#store.container(spec.name)?.id;
    const known = knownId && (await this.#docker.containers.inspect(knownId));
    if (known && isOwnedBy(known.labels, this.#project, spec)) return known;
    const observation = await this.#reader.container(spec);
    return observation.container;
  }

  /** The container holding the module's name, when berth does not own it: NAME_CONFLICT. */
  async #refuseForeignContainer(spec: ModuleSpec): Promise<ContainerDetails | undefined> {
    const holder = await this.#docker.containers.inspect(spec.containerName);
    if (holder && !isOwnedBy(holder.labels, this.#project, spec)) {
      throw new BerthError(
        'NAME_CONFLICT',
        `container name "${spec.containerName}" of module "${spec.name}" is taken by container ${holder.id.slice(0, 12)}, which berth (project "${this.#project}") does not manage; berth leaves it alone: remove or rename it to let berth create the module's container`,
      );
    }
    return holder;
  }

  /** Another berth on the engine may be removing it too: gone (404) or being removed (409) is done. */
  async #removeIfThere(id: string): Promise<void> {
    try {
      await this.#docker.containers.remove(id);
    } catch (error) {
      const status = engineStatusCode(error);
      if (status !== 404 && status !== 409) throw error;
    }
  }

  async #create(spec: ModuleSpec): Promise<string> {
    await this.#refuseForeignContainer(spec);
    const image = await this.#reader.image(spec.image);
    this.#store.observe(image);
    if (!image.image) throw imageNotLoaded(spec);
    let networks = await this.#resources.prepare(spec);
    for (let deadline = Date.now() + nameTakenWaitMs, settled = 0; ; await pause(50)) {
      try {
        return await this.#createJoined(spec, networks);
      } catch (error) {
        // A network removed since it was prepared: another berth that made the same network at the same moment
        // settled on its own and removed this one. Prepared again, it is the one both keep.
        if (isMissingNetwork(error) && settled++ < missingNetworkRetries) {
          networks = await this.#resources.prepare(spec);
          continue;
        }
        // 404: the image went since the check, or a network was removed since it was made.
        if (engineStatusCode(error) === 404) throw (await this.#imageGone(spec)) ? imageNotLoaded(spec) : error;
        const missing = bindSourceMissing(spec, error);
        if (missing) throw missing;
        if (engineStatusCode(error) !== 409) throw error;
        // The name is taken since the check: by another berth of this project (two replicas on one engine),
        // whose container this start uses once the engine shows it (it reserves a name before the container
        // can be inspected); by a container being removed, which frees it soon; or by someone else: NAME_CONFLICT.
        const holder = await this.#refuseForeignContainer(spec);
        if (holder && holder.state !== 'removing' && startsAsIs(holder, spec)) {
          this.#log.info({ module: spec.name, container: holder.id }, 'another berth created the container first; using it');
          return holder.id;
        }
        if (Date.now() > deadline) throw error;
      }
    }
  }

  /** A container that cannot join all its networks is removed again: started, it would miss a name its peers use. */
  async #createJoined(spec: ModuleSpec, networks: readonly string[]): Promise<string> {
    const id = await this.#docker.containers.create(containerCreateOptions(this.#project, spec, networks));
    try {
      await this.#resources.join(spec, id, networks);
    } catch (error) {
      await this.#removeIfThere(id).catch((removal: Error) => this.#log.warn({ err: removal, container: id }, 'could not remove a container that failed to join its networks'));
      throw error;
    }
    return id;
  }

  async #imageGone(spec: ModuleSpec): Promise<boolean> {
    const observation = await this.#reader.image(spec.image);
    this.#store.observe(observation);
    return !observation.image;
  }
}

/** What an operation acted on: the container's id, a start of a stopped one with when it was asked, or nothing. */
type Acted = string | StartAsked | undefined;

function idOf(acted: Acted): string | undefined {
  return typeof acted === 'object' ? acted.id : acted;
}

function checkTimeout(timeoutSeconds: number): void {
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0 || timeoutSeconds > maxStopTimeoutSeconds) {
    throw new BerthError('BAD_USER_INPUT', `timeoutSeconds must be a whole number from 0 to ${maxStopTimeoutSeconds}, got ${timeoutSeconds}`);
  }
}

/** How long a create that finds the module's name taken waits for the holder to show or to go. */
const nameTakenWaitMs = 2_000;

/** How many times a create whose network went since it was prepared prepares it again. */
const missingNetworkRetries = 3;

/** A container a start can use as it is: not dead, and running or made from this docker.yaml. */
function startsAsIs(container: ContainerDetails, spec: ModuleSpec): boolean {
  return container.state !== 'dead' && (container.state === 'running' || container.labels[labelKeys.spec] === specDigest(spec));
}

/** An apply's audit outcome: its error code, with a rollback's reason. */
function applyOutcome(error: unknown) {
  const outcome = error instanceof BerthError ? error.code : 'failed';
  return { outcome, details: { reason: error instanceof Error ? error.message : String(error) } };
}

/** What berth reads of a module's one container (log, stats) a Swarm module, whose tasks are many, does not have yet. */
function refuseSwarm(spec: ModuleSpec, what: string, instead: string): void {
  if (!isSwarmModule(spec)) return;
  throw new BerthError('BAD_USER_INPUT', `module "${spec.name}" runs as a Swarm service (deploy:), and berth does not read ${what} yet: use \`${instead}\` on the module's tasks (service ${spec.containerName})`);
}

function engineUnavailable(message: string): BerthError {
  return new BerthError('ENGINE_UNAVAILABLE', message);
}

function removedModule(name: string): BerthError {
  return new BerthError('MODULE_NOT_FOUND', `module "${name}" was removed from docker.yaml`);
}

function imageNotLoaded(spec: ModuleSpec): BerthError {
  return new BerthError(
    'IMAGE_NOT_LOADED',
    `image "${spec.image}" of module "${spec.name}" is not on the engine; berth never pulls silently: load or pull it first`,
  );
}
