import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import type { ContainerStats } from '../engine/engine-types.ts';
import { PushQueue } from '../lib/async-iteration.ts';
import { backoffDelay, pause } from '../lib/timing.ts';
import type { ModuleState, ModuleStore } from './module-store.ts';

/** One reading of a module's container. */
export interface ModuleStats extends ContainerStats {
  /** The module as the store held it when the reading arrived. */
  module: ModuleState;
}

export interface ModuleStatsStreamsOptions {
  docker: DockerClient;
  store: ModuleStore;
  logger: Logger;
  /** The first wait before a broken engine stream of a running module is opened again, doubling to 10 s; default 500 ms. */
  retryMs?: number;
}

export interface StatsSubscriberOptions {
  /** Readings held for a subscriber that does not keep up, per module it follows; past that its stream ends. Default 30. */
  perModuleCapacity?: number;
}

const maxRetryMs = 10_000;

/**
 * The readings of running modules, with one engine stream per module whatever the number of subscribers:
 * opened with its first subscriber (or once the module runs), closed when the last one leaves or the
 * container stops, and opened again when the module runs again or gets another container. Which
 * container runs comes from the store's changes, never from a guess of this class.
 */
export class ModuleStatsStreams {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #log: Logger;
  readonly #retryMs: number;
  readonly #followed = new Map<string, SharedStatsStream>();
  #unlisten: (() => void) | undefined;

  constructor({ docker, store, logger, retryMs = 500 }: ModuleStatsStreamsOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#log = logger;
    this.#retryMs = retryMs;
  }

  /**
   * One subscriber's readings of these modules (`all`: every module, and those a reload adds once the store
   * announces them), about one a second for each that runs. Each reading is one new object handed to every
   * subscriber of its module, so that the shared execution of subscriptions runs an operation once per
   * reading. A subscriber that falls behind by its capacity is ended.
   */
  subscribe(modules: readonly ModuleState[] | 'all', { perModuleCapacity = 30 }: StatsSubscriberOptions = {}): PushQueue<ModuleStats> {
    const names = new Set((modules === 'all' ? this.#store.list() : modules).map((module) => module.spec.name));
    let unlisten = () => {};
    const subscriber: PushQueue<ModuleStats> = new PushQueue({
      capacity: perModuleCapacity * Math.max(1, names.size),
      onOverflow: () => this.#log.info({ modules: [...names] }, 'ended a stats subscriber that fell behind'),
      onEnd: () => {
        unlisten();
        this.#leave([...names], subscriber);
      },
    });
    for (const name of names) this.#join(name, subscriber);
    if (modules === 'all') unlisten = this.#followDeclared(names, subscriber);
    return subscriber;
  }

  /** An `all` subscriber joins the modules a reload adds as they are announced, and leaves those it removes. */
  #followDeclared(names: Set<string>, subscriber: PushQueue<ModuleStats>): () => void {
    const stopAdded = this.#store.onModuleChanged(({ spec: { name } }) => {
      if (names.has(name)) return;
      names.add(name);
      this.#join(name, subscriber);
    });
    const stopRemoved = this.#store.onModuleRemoved((name) => {
      if (names.delete(name)) this.#leave([name], subscriber);
    });
    return () => {
      stopAdded();
      stopRemoved();
    };
  }

  #join(name: string, subscriber: PushQueue<ModuleStats>): void {
    let stream = this.#followed.get(name);
    if (!stream) {
      this.#unlisten ??= this.#store.onModuleChanged((module) => this.#followed.get(module.spec.name)?.follow(module));
      stream = new SharedStatsStream(name, { docker: this.#docker, store: this.#store, log: this.#log, retryMs: this.#retryMs });
      this.#followed.set(name, stream);
    }
    stream.subscribers.add(subscriber);
    const module = this.#store.get(name);
    if (module) stream.follow(module);
  }

  #leave(names: readonly string[], subscriber: PushQueue<ModuleStats>): void {
    for (const name of names) {
      const stream = this.#followed.get(name);
      stream?.subscribers.delete(subscriber);
      if (stream?.subscribers.size !== 0) continue;
      stream.close();
      this.#followed.delete(name);
    }
    if (this.#followed.size > 0) return;
    this.#unlisten?.();
    this.#unlisten = undefined;
  }
}

interface SharedStatsStreamDeps {
  docker: DockerClient;
  store: ModuleStore;
  log: Logger;
  retryMs: number;
}

/** One module's engine stream and its subscribers. */
class SharedStatsStream {
  readonly subscribers = new Set<PushQueue<ModuleStats>>();
  readonly #name: string;
  readonly #deps: SharedStatsStreamDeps;
  /** The container followed, and what stops following it. */
  #following: { containerId: string; stop: AbortController } | undefined;

  constructor(name: string, deps: SharedStatsStreamDeps) {
    this.#name = name;
    this.#deps = deps;
  }

  /** Follows the container the module runs now, and no other. */
  follow(module: ModuleState): void {
    const wanted = runningContainer(module, this.#following?.containerId);
    if (wanted === this.#following?.containerId) return;
    this.close();
    if (wanted) void this.#stream(wanted);
  }

  close(): void {
    if (!this.#following) return;
    this.#deps.log.debug({ module: this.#name, container: this.#following.containerId }, 'closing the stats stream');
    this.#following.stop.abort();
    this.#following = undefined;
  }

  /** Reads the engine's stream until stopped; one that breaks is opened again after a backoff. */
  async #stream(containerId: string): Promise<void> {
    const stop = new AbortController();
    this.#following = { containerId, stop };
    const { docker, log, retryMs } = this.#deps;
    // Attempts since the last reading; an engine that is down fails every one, which is logged once.
    let failures = 0;
    let warned = false;
    while (!stop.signal.aborted) {
      try {
        for await (const reading of await docker.stats.stream(containerId, stop.signal)) {
          if (stop.signal.aborted) break;
          [failures, warned] = [0, false];
          this.#deliver(reading);
        }
      } catch (error) {
        if (!stop.signal.aborted && !warned) log.warn({ module: this.#name, container: containerId, err: error }, 'the stats stream failed; opening it again');
        warned = true;
      }
      await pause(backoffDelay(failures++, retryMs, maxRetryMs), stop.signal);
    }
  }

  #deliver(reading: ContainerStats): void {
    const module = this.#deps.store.get(this.#name);
    if (!module) return;
    const stats: ModuleStats = { ...reading, module };
    for (const subscriber of this.subscribers) subscriber.push(stats);
  }
}

/**
 * The container whose readings to show: the running one. A start or stop under way (HANDLING) keeps the one
 * followed, which may run for a while yet; the engine sends nothing once it has stopped.
 */
function runningContainer(module: ModuleState, followed: string | undefined): string | undefined {
  if (module.status === 'RUNNING') return module.containerId;
  return module.status === 'HANDLING' && module.containerId === followed ? followed : undefined;
}
