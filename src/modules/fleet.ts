import type { Readable } from 'node:stream';
import { defaultEngine } from '../config/module-spec.ts';
import { BerthError } from '../errors.ts';
import { endWhen, mergeIterators } from '../lib/async-iteration.ts';
import type { ApplyOptions, DockerModuleClient } from './docker-module-client.ts';
import type { ImagePull } from './image-pulls.ts';
import type { FollowedLogLine } from './log-follower.ts';
import type { LogRequest } from './module-logs.ts';
import type { ModuleStats, StatsSubscriberOptions } from './module-stats.ts';
import type { ContainerStatus } from './module-status.ts';
import type { EngineState, ModuleState, ModuleStatusChange, ModuleStore } from './module-store.ts';

/** One engine's modules: its module client and its store. */
export interface EngineModules {
  name: string;
  modules: DockerModuleClient;
  store: ModuleStore;
}

/** What feeds of module changes read: a Fleet, or one engine's module client. */
export type ModuleSource = Pick<Fleet, 'select' | 'subscribe' | 'onModuleChanged' | 'onModuleRemoved'>;

/** An engine as `engines` answers it. */
export interface NamedEngineState extends EngineState {
  name: string;
}

/**
 * The modules of every engine, as GraphQL sees them: each module's operations go to the engine it runs on,
 * and lists and feeds gather every engine's. An engine that is down, or never answered, leaves the others
 * untouched. A module a reload moved to another engine is answered from its new one while the old one
 * removes its container.
 */
export class Fleet {
  readonly #engines: readonly EngineModules[];
  readonly #default: EngineModules;
  /** Module names in docker.yaml's order, for lists that gather several engines. */
  #order = new Map<string, number>();
  #reorders = 0;

  constructor(engines: readonly EngineModules[], order: readonly string[]) {
    this.#engines = engines;
    this.#default = engines.find((engine) => engine.name === defaultEngine) ?? engines[0]!;
    this.reorder(order);
  }

  /** docker.yaml's module order, after a reload. */
  reorder(order: readonly string[]): void {
    this.#reorders++;
    this.#order = new Map(order.map((name, index) => [name, index]));
  }

  /** Changes whenever anything a query could read of the modules or engines may have: every store's version, and the order. */
  get version(): number {
    return this.#engines.reduce((sum, { store }) => sum + store.version, this.#reorders);
  }

  /** The default engine's state: the single engine of the `engine` query. */
  get engine(): EngineState {
    return this.#default.store.engine;
  }

  get engines(): NamedEngineState[] {
    return this.#engines.map(({ name, store }) => ({ name, ...store.engine }));
  }

  /** The engine a module is declared on; one retiring (removed, or moved away) where it retires; unknown names to the default, which refuses them. */
  #engineOf(name: string): EngineModules {
    return (
      this.#engines.find(({ store }) => store.spec(name) !== undefined && !store.retiring(name)) ??
      this.#engines.find(({ store }) => store.spec(name) !== undefined) ??
      this.#default
    );
  }

  #clientOf(name: string): DockerModuleClient {
    return this.#engineOf(name).modules;
  }

  /**
   * Every module of the engines berth has seen, in docker.yaml's order; those of an engine never reached are
   * left out (its `engines` entry says so), and it fails only when no engine was ever reached.
   */
  list(status?: ContainerStatus): readonly ModuleState[] {
    if (this.#engines.length === 1) return this.#default.modules.list(status);
    const seen = this.#engines.filter(({ store }) => store.synced);
    if (seen.length === 0) return this.#default.modules.list(status);
    const gathered = seen.flatMap((engine) => engine.modules.list(status).filter(({ spec }) => this.#engineOf(spec.name) === engine));
    const rank = (module: ModuleState) => this.#order.get(module.spec.name) ?? Infinity;
    return gathered.sort((a, b) => rank(a) - rank(b));
  }

  get(name: string): ModuleState {
    return this.#clientOf(name).get(name);
  }

  /** The names given, all of them when none; unknown names are MODULE_NOT_FOUND. */
  select(names: readonly string[] | undefined): readonly ModuleState[] {
    return names ? [...new Set(names)].map((name) => this.get(name)) : this.list();
  }

  /** Changes from the engine each module is answered from: a moved module's old engine retiring it says nothing of it. */
  subscribe(listener: (change: ModuleStatusChange) => void): () => void {
    if (this.#engines.length === 1) return this.#default.store.subscribe(listener);
    return this.#everyStore((store, engine) => store.subscribe((change) => this.#engineOf(change.module.spec.name) === engine && listener(change)));
  }

  onModuleChanged(listener: (module: ModuleState) => void): () => void {
    if (this.#engines.length === 1) return this.#default.store.onModuleChanged(listener);
    return this.#everyStore((store, engine) => store.onModuleChanged((module) => this.#engineOf(module.spec.name) === engine && listener(module)));
  }

  /** A module gone from docker.yaml; one that moved to another engine is still there, and is not. */
  onModuleRemoved(listener: (module: string) => void): () => void {
    return this.#everyStore((store) =>
      store.onModuleRemoved((name) => {
        if (this.#engines.every((engine) => engine.store.spec(name) === undefined)) listener(name);
      }),
    );
  }

  #everyStore(listen: (store: ModuleStore, engine: EngineModules) => () => void): () => void {
    const stops = this.#engines.map((engine) => listen(engine.store, engine));
    return () => {
      for (const stop of stops) stop();
    };
  }

  start(name: string): Promise<ModuleState> {
    return this.#clientOf(name).start(name);
  }

  stop(name: string, timeoutSeconds: number): Promise<ModuleState> {
    return this.#clientOf(name).stop(name, timeoutSeconds);
  }

  restart(name: string, timeoutSeconds: number): Promise<ModuleState> {
    return this.#clientOf(name).restart(name, timeoutSeconds);
  }

  apply(name: string, options: ApplyOptions): Promise<ModuleState> {
    return this.#clientOf(name).apply(name, options);
  }

  /** Each start in dependency order within its engine (dependencies never cross engines). One promise per name. */
  startMany(names: readonly string[]): Promise<ModuleState>[] {
    return this.#byEngine(names, (client, some) => client.startMany(some));
  }

  stopMany(names: readonly string[], timeoutSeconds: number): Promise<ModuleState>[] {
    return this.#byEngine(names, (client, some) => client.stopMany(some, timeoutSeconds));
  }

  /** A batch split by engine, each part run on its engine, the answers put back in the order named. */
  #byEngine<T>(names: readonly string[], run: (client: DockerModuleClient, names: readonly string[]) => T[]): T[] {
    const parts = new Map<DockerModuleClient, number[]>();
    names.forEach((name, index) => {
      const client = this.#clientOf(name);
      parts.set(client, [...(parts.get(client) ?? []), index]);
    });
    const answers: T[] = Array.from({ length: names.length });
    for (const [client, indexes] of parts) {
      run(client, indexes.map((index) => names[index]!)).forEach((answer, at) => (answers[indexes[at]!] = answer));
    }
    return answers;
  }

  logs(name: string, request: LogRequest): Promise<FollowedLogLine[]> {
    return this.#clientOf(name).logs(name, request);
  }

  followLogs(name: string, request: LogRequest): Promise<AsyncIterableIterator<FollowedLogLine>> {
    return this.#clientOf(name).followLogs(name, request);
  }

  pullImage(name: string): Promise<ImagePull> {
    return this.#clientOf(name).pullImage(name);
  }

  followPull(name: string): AsyncIterableIterator<ImagePull> {
    return this.#clientOf(name).followPull(name);
  }

  /** One subscriber's stats of the named modules, all when none: one feed per engine, merged. */
  stats(names: readonly string[] | undefined, options?: StatsSubscriberOptions): AsyncIterableIterator<ModuleStats> {
    if (names) {
      this.select(names);
      const routed = new Map(names.map((name) => [name, this.#engineOf(name)]));
      const parts = new Map<DockerModuleClient, string[]>();
      for (const [name, { modules }] of routed) parts.set(modules, [...(parts.get(modules) ?? []), name]);
      const merged = mergeIterators([...parts].map(([client, some]) => client.stats(some, options)));
      // One a reload moved to another engine ends it, as one removed does: a new subscription follows it there.
      const unmoved = () => [...routed].every(([name, engine]) => this.#engineOf(name) === engine);
      return endWhen(merged, unmoved, (listener) => this.#everyStore((store) => store.onModuleChanged(() => listener())));
    }
    const seen = this.#engines.filter(({ store }) => store.synced);
    if (seen.length === 0) this.list();
    return mergeIterators(seen.map(({ modules }) => modules.stats(undefined, options)));
  }

  /** A `docker save` archive, loaded into the named engine (the default one when none). */
  loadImages(archive: Readable, until: AbortSignal, engine = defaultEngine): Promise<string[]> {
    const target = this.#engines.find(({ name }) => name === engine);
    if (!target) throw new BerthError('BAD_USER_INPUT', `no engine named "${engine}" in docker.yaml; engines: ${this.#engines.map(({ name }) => name).join(', ')}`);
    return target.modules.loadImages(archive, until);
  }
}
