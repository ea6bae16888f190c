import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import type { EngineEvent } from '../engine/engine-types.ts';
import { backoffDelay, pause, within } from '../lib/timing.ts';
import type { ModuleReader } from './module-reader.ts';
import { followedActions, swarmActions, type ModuleStore, type Observation } from './module-store.ts';

/** Failed task polls in a row after which the engine is followed anew. */
const pollFailuresBeforeRefollow = 4;

/** What the watcher tells of the engine events it applies (metrics). */
export interface EventMeter {
  received(event: EngineEvent): void;
  /** A change an event made was published to the store's listeners, this long after the event came in (reads it called for included). */
  published(delayMs: number): void;
}

export interface EngineWatcherOptions {
  docker: DockerClient;
  store: ModuleStore;
  reader: ModuleReader;
  logger: Logger;
  /** Called after every resync: the first, each after a reconnect, and each periodic one. */
  onSynced?: () => void;
  /** First delay before reconnecting; doubles on each failure. Default 100 ms. */
  initialBackoffMs?: number;
  /** Longest delay between attempts while the engine is down: how late berth may notice its return. Default 1 s. */
  maxBackoffMs?: number;
  /** How often the engine is pinged while connected; a failed ping reconnects. Default 5 s. */
  watchdogMs?: number;
  /** How often everything is listed again while connected, to catch what events missed. Default 60 s. */
  resyncMs?: number;
  /**
   * How often the tasks of the project's Swarm services are read, on a Swarm manager with Swarm modules: the
   * engine sends no task events, so this bounds how late a task's change shows. Default 250 ms.
   */
  taskPollMs?: number;
  /** The engine's unix socket, if any: its folder is watched so that the socket's return wakes a reconnect at once. */
  socketPath?: string | undefined;
  /** Told of each event and of the delay until the change it made was published; default none. */
  meter?: EventMeter | undefined;
}

interface Waiter {
  /** The attempt under way when the waiter came: only a later one can answer it "no". */
  after: number;
  resolve: (synced: boolean) => void;
}

/**
 * Follows the engine: subscribes to its events first, then lists everything (the engine replays
 * only a short window of past events), and does both again after every break, forever, retrying at
 * least once a second. Reads that an event or a resync calls for, and that fail, are retried at each
 * watchdog tick; a periodic resync catches whatever was missed.
 */
export class EngineWatcher {
  readonly #options: Required<Omit<EngineWatcherOptions, 'onSynced' | 'socketPath' | 'meter'>> & Pick<EngineWatcherOptions, 'onSynced' | 'socketPath' | 'meter'>;
  readonly #stopping = new AbortController();
  #wakeup = new AbortController();
  /** The connection followed now, which refollow() ends. */
  #connection: AbortController | undefined;
  #refollowing = false;
  #running: Promise<void> | undefined;
  #attempts = 0;
  #waiters: Waiter[] = [];
  #down = false;
  #socketWatch: FSWatcher | undefined;
  /** Reads to try again at the next watchdog tick, with the event that asked for them when it is metered and unpublished. */
  readonly #unread = { modules: new Map<string, Pending | undefined>(), images: new Map<string, Pending | undefined>() };

  constructor(options: EngineWatcherOptions) {
    this.#options = { initialBackoffMs: 100, maxBackoffMs: 1_000, watchdogMs: 5_000, resyncMs: 60_000, taskPollMs: 250, ...options };
  }

  start(): void {
    if (this.#running) return;
    this.#watchSocket();
    this.#running = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#socketWatch?.close();
    this.#settle(Infinity, false);
    await this.#running;
  }

  /**
   * Whether the engine answers now: when it is marked down, a reconnect is tried at once and this waits
   * (up to `timeoutMs`) for it to sync. For operations, which would otherwise refuse until the next attempt.
   */
  async reachableNow(timeoutMs = 2_000): Promise<boolean> {
    if (this.#options.store.engine.reachable) return true;
    const attempt = new Promise<boolean>((resolve) => this.#waiters.push({ after: this.#attempts, resolve }));
    this.#wakeup.abort();
    return within(attempt, timeoutMs, false);
  }

  /**
   * Follows the engine anew at once, the engine still marked reachable: for a reload that changed what is to be
   * followed (the first Swarm module of an engine, or its last one gone: service and node events, the task poll).
   */
  refollow(): void {
    if (!this.#connection) return;
    this.#refollowing = true;
    this.#connection.abort();
  }

  async #run(): Promise<void> {
    const { store, initialBackoffMs, maxBackoffMs } = this.#options;
    for (let failures = 0; !this.#stopping.signal.aborted; failures++) {
      const began = Date.now();
      const connected = await this.#follow(++this.#attempts);
      if (this.#stopping.signal.aborted) break;
      if (this.#refollowing) {
        this.#refollowing = false;
        failures = -1;
        continue;
      }
      store.observe({ type: 'unreachable' });
      if (connected) failures = 0;
      // An attempt that waited longer than any pause (a starting engine holds requests until it serves
      // them, up to the read deadline) was its own backoff: the next one goes at once, to be queued first.
      const delay = Date.now() - began > maxBackoffMs ? 0 : backoffDelay(failures, initialBackoffMs, maxBackoffMs);
      await pause(delay, this.#stopping.signal, this.#wakeup.signal);
      if (this.#wakeup.signal.aborted) this.#wakeup = new AbortController();
    }
  }

  /** One connection: true when it got as far as a resync. */
  async #follow(attempt: number): Promise<boolean> {
    const { docker, store, reader, logger, onSynced, watchdogMs, resyncMs, taskPollMs } = this.#options;
    const connection = new AbortController();
    this.#connection = connection;
    // The last connection's events excuse nothing on this one.
    this.#lastEventAt = -Infinity;
    const stop = () => connection.abort();
    this.#stopping.signal.addEventListener('abort', stop, { once: true });
    const timers: NodeJS.Timeout[] = [];
    let synced = false;
    try {
      // A Swarm manager's service and node events too; only an engine with Swarm modules is asked what it is.
      const swarm = store.swarm && (await reader.checkManager());
      const events = await docker.events.stream(connection.signal, swarm ? [...followedActions, ...swarmActions] : followedActions, { swarm });
      const version = await docker.system.version();
      await this.#resync(connection.signal, { full: true });
      this.#options.store.observe({ type: 'reachable', version });
      synced = true;
      this.#settle(attempt, true);
      this.#down = false;
      logger.info(this.#options.store.engine, 'engine in sync');
      onSynced?.();
      timers.push(setInterval(() => this.#watchdog(connection), watchdogMs));
      timers.push(setInterval(() => this.#safetyResync(connection), resyncMs));
      if (swarm) timers.push(setInterval(() => this.#pollTasks(connection.signal), taskPollMs));
      for await (const event of events) this.#apply(event);
      if (!connection.signal.aborted) logger.warn('engine event stream ended; reconnecting');
    } catch (error) {
      if (!connection.signal.aborted) this.#noticeDown(error);
    } finally {
      for (const timer of timers) clearInterval(timer);
      connection.abort();
      this.#stopping.signal.removeEventListener('abort', stop);
      if (!synced) this.#settle(attempt, false);
    }
    return synced;
  }

  /** Once per outage at warn level: a down engine is retried every second. */
  #noticeDown(error: unknown): void {
    if (this.#down) this.#options.logger.debug({ err: error }, 'engine still unreachable');
    else this.#options.logger.warn({ err: error }, 'engine unreachable; retrying at least once a second');
    this.#down = true;
  }

  /** A sync answers every waiter yes; a failed attempt answers those that came before it began. */
  #settle(attempt: number, synced: boolean): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!synced && waiter.after >= attempt) return true;
      waiter.resolve(synced);
      return false;
    });
  }

  /**
   * What a resync read, handed to the store unless its connection ended meanwhile; modules it could not
   * inspect are read again at the watchdog tick. Answers how many statuses changed.
   */
  async #resync(connection: AbortSignal, { full }: { full: boolean }): Promise<number> {
    const { observations, unread } = await this.#options.reader.everything({ full });
    if (connection.aborted) return 0;
    for (const module of unread) if (!this.#unread.modules.has(module)) this.#unread.modules.set(module, undefined);
    if (unread.length > 0) this.#options.logger.warn({ modules: unread }, 'could not inspect some containers; retrying at the next watchdog tick');
    return observations.reduce((changes, observation) => changes + this.#observe(observation), 0);
  }

  #apply(event: EngineEvent): void {
    const { meter } = this.#options;
    this.#lastEventAt = performance.now();
    meter?.received(event);
    try {
      this.#observe({ type: 'event', event }, meter && { at: performance.now(), published: false });
    } catch (error) {
      // Whatever went wrong, the module the event was about is read again rather than left as it was.
      this.#options.logger.warn({ err: error, event }, 'could not apply an engine event; reading the module again');
      const module = event.attributes['berth.module'];
      if (module && this.#options.store.spec(module)) void this.#reread(module);
    }
  }

  /**
   * Hands the store an observation and reads again what it could not settle; answers how many statuses changed.
   * `received`: when the event behind it came in (metered only), until a change it made is published, at once or
   * by the reads it calls for.
   */
  #observe(observation: Observation, received?: Pending): number {
    const { store, meter } = this.#options;
    const publications = store.publications;
    const outcome = store.observe(observation);
    // An event is timed once: at the first change it publishes, itself or through the reads it called for.
    if (received && !received.published && store.publications !== publications) {
      received.published = true;
      meter?.published(store.publishedAt - received.at);
    }
    const pending = received?.published ? undefined : received;
    for (const module of outcome.reread) void this.#reread(module, pending);
    for (const reference of outcome.recheck) void this.#recheck(reference, pending);
    return outcome.changes.length;
  }

  #reread(module: string, received?: Pending): Promise<void> {
    const { reader, store } = this.#options;
    return this.#readOrRetry(this.#unread.modules, module, () => reader.module(store.spec(module)!), received);
  }

  #recheck(reference: string, received?: Pending): Promise<void> {
    return this.#readOrRetry(this.#unread.images, reference, () => this.#options.reader.image(reference), received);
  }

  /** A read the store asked for; one that fails stays in `unread`, with its event, to be tried again at the next watchdog tick. */
  async #readOrRetry(unread: Map<string, Pending | undefined>, key: string, read: () => Promise<Observation>, received?: Pending): Promise<void> {
    try {
      const observation = await read();
      unread.delete(key);
      this.#observe(observation, received);
    } catch (error) {
      unread.set(key, received ?? unread.get(key));
      this.#options.logger.warn({ err: error, reading: key }, 'could not read from the engine; retrying at the next watchdog tick');
    }
  }

  #pinging = false;
  /** performance.now() when the stream last brought an event. */
  #lastEventAt = -Infinity;

  /**
   * A ping that has not answered by the next tick counts as failed, whatever the client's own deadline. One the
   * engine refuses while its stream still brings events is the engine going down: it stops taking connections
   * first, then stops its containers and streams their events, which are their final word (a thousand take
   * seconds); they are followed until the stream ends, and only a stream silent for three ticks is given up.
   */
  #watchdog(connection: AbortController): void {
    if (this.#pinging) return;
    this.#pinging = true;
    const { docker, watchdogMs, logger } = this.#options;
    within(docker.system.ping().then(() => true), watchdogMs, false)
      .then(
        (answered) => {
          if (!answered) throw new Error(`no answer to the watchdog's ping within ${watchdogMs} ms`);
          for (const [module, received] of this.#unread.modules) void this.#reread(module, received);
          for (const [reference, received] of this.#unread.images) void this.#recheck(reference, received);
        },
        (refused: Error) => {
          if (!this.#eventsStillCome()) throw refused;
          logger.warn({ err: refused }, 'the engine refuses new requests but its events still come: following them to the end of its stream');
        },
      )
      .catch((error: Error) => {
        logger.warn({ err: error }, 'engine stopped answering; reconnecting');
        connection.abort();
      })
      .finally(() => (this.#pinging = false));
  }

  #polling = false;

  /** One read of the project's tasks at a time: a slow answer skips the ticks it overlaps. A failure waits for the next tick. */
  #pollTasks(connection: AbortSignal): void {
    if (this.#polling) return;
    this.#polling = true;
    this.#options.reader
      .tasks()
      .then((observation) => {
        if (this.#pollFailures > 0) this.#options.logger.info('reading the Swarm tasks again');
        this.#pollFailures = 0;
        if (!connection.aborted) this.#observe(observation);
      })
      .catch((error: Error) => this.#pollFailed(error))
      .finally(() => (this.#polling = false));
  }

  /** Consecutive task polls that failed: a manager demoted, say, which answers no /tasks. */
  #pollFailures = 0;

  /**
   * Once per run of failures at warn level, when its statuses begin to go stale; a few in a row have the engine
   * followed anew, which asks again whether it is a manager (one no longer is followed as any other engine).
   */
  #pollFailed(error: Error): void {
    const { logger } = this.#options;
    if (this.#pollFailures++ === 0) logger.warn({ err: error }, 'could not read the Swarm tasks: Swarm modules may show stale statuses until it answers');
    else logger.debug({ err: error }, 'still cannot read the Swarm tasks');
    if (this.#pollFailures % pollFailuresBeforeRefollow === 0) this.refollow();
  }

  #resyncing = false;

  #safetyResync(connection: AbortController): void {
    if (this.#resyncing) return;
    this.#resyncing = true;
    this.#resync(connection.signal, { full: false })
      .then((changes) => {
        if (changes > 0) this.#options.logger.warn({ changes }, 'the periodic resync found statuses that events had missed');
        this.#options.onSynced?.();
      })
      .catch((error: Error) => {
        // An engine going down refuses the resync's list while it still streams its containers' final events: the
        // stream is followed to its end (the watchdog gives up a silent one), and the resync tried at the next period.
        if (this.#eventsStillCome()) {
          this.#options.logger.warn({ err: error }, 'periodic resync failed while the engine\'s events still come: following them to the end of its stream');
          return;
        }
        this.#options.logger.warn({ err: error }, 'periodic resync failed; reconnecting');
        connection.abort();
      })
      .finally(() => (this.#resyncing = false));
  }

  /** Whether the stream brought an event within the last three watchdog ticks. */
  #eventsStillCome(): boolean {
    return performance.now() - this.#lastEventAt <= 3 * this.#options.watchdogMs;
  }

  #watchSocket(): void {
    const { socketPath, store, logger } = this.#options;
    if (!socketPath) return;
    try {
      this.#socketWatch = watch(dirname(socketPath), { persistent: false }, (_event, file) => {
        if (file === basename(socketPath) && !store.engine.reachable) this.#wakeup.abort();
      });
      this.#socketWatch.on('error', (error) => logger.debug({ err: error }, 'stopped watching the engine socket folder'));
    } catch (error) {
      logger.debug({ err: error, socketPath }, 'cannot watch the engine socket folder; polling only');
    }
  }
}

/** A metered engine event until the first change it makes is published (berth_event_publish_delay_seconds). */
interface Pending {
  /** performance.now() when it came in. */
  at: number;
  published: boolean;
}
