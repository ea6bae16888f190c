import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import type { LogLine } from '../engine/engine-types.ts';
import type { LogQuery } from '../engine/log-client.ts';
import type { PushQueue } from '../lib/async-iteration.ts';
import { backoffDelay } from '../lib/timing.ts';
import type { ModuleStore } from './module-store.ts';

/** A line as a follower delivers it. */
export interface FollowedLogLine extends LogLine {
  /** How many lines were dropped just before this one because the subscriber did not keep up; unset when none. */
  dropped?: number;
}

export interface LogFollowerOptions {
  docker: DockerClient;
  store: ModuleStore;
  log: Logger;
  module: string;
  container: { id: string; tty: boolean };
  queue: PushQueue<FollowedLogLine>;
  signal: AbortSignal;
  since: bigint | undefined;
}

/**
 * One subscriber's follow of one container's log. The engine ends the stream when the container stops;
 * the follower then waits for the module's next run and opens the log again from the latest moment it
 * read, skipping the lines of that very moment it already read: nothing is repeated.
 */
export class LogFollower {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #log: Logger;
  readonly #module: string;
  readonly #container: { id: string; tty: boolean };
  readonly #queue: PushQueue<FollowedLogLine>;
  readonly #signal: AbortSignal;
  readonly #since: bigint | undefined;
  /** The latest moment read, and how many lines were read at that very moment. */
  #latest: bigint | undefined;
  #atLatest = 0;
  /** Lines at the latest moment still to skip, after the log was opened again from it. */
  #skip = 0;
  /** Lines dropped since the last one the queue took. */
  #dropped = 0;
  /** Lines read from the engine so far, not counting those skipped as read before. */
  #read = 0;

  constructor({ docker, store, log, module, container, queue, signal, since }: LogFollowerOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#log = log;
    this.#module = module;
    this.#container = container;
    this.#queue = queue;
    this.#signal = signal;
    this.#since = since;
  }

  /**
   * The first engine stream. With no tail, the last line there is now is read first and skipped, so that
   * a stream opened again later starts after it (the engine's clock, not berth's, dates the lines).
   */
  async open(tail: number): Promise<AsyncIterable<LogLine[]>> {
    if (tail > 0) return this.#stream({ tail, since: this.#since });
    const [last] = await this.#docker.logs.read(this.#container.id, { tty: this.#container.tty, tail: 1, since: this.#since });
    if (last) this.#skipThrough(last.time);
    return this.#stream({ since: last?.time ?? this.#since });
  }

  /** Delivers the stream's lines, and those of every later run of the container, until it is gone or the subscriber leaves. */
  async follow(first: AsyncIterable<LogLine[]>): Promise<void> {
    let stream: AsyncIterable<LogLine[]> | undefined = first;
    for (let quiet = 0; !this.#signal.aborted; ) {
      const read = this.#read;
      try {
        stream ??= await this.#stream({ since: this.#latest ?? this.#since });
        for await (const batch of stream) for (const line of batch) this.#deliver(line);
      } catch (error) {
        if (this.#signal.aborted) return;
        this.#log.debug({ err: error, module: this.#module, container: this.#container.id }, 'a module log stream broke; opening it again');
      }
      stream = undefined;
      quiet = this.#read === read ? quiet + 1 : 0;
      if (!(await this.#runsAgain(quiet))) return;
      this.#skip = this.#atLatest;
    }
  }

  #stream(query: Omit<LogQuery, 'tty'>): Promise<AsyncIterable<LogLine[]>> {
    return this.#docker.logs.follow(this.#container.id, { tty: this.#container.tty, ...query }, this.#signal);
  }

  #deliver(line: FollowedLogLine): void {
    if (line.time === this.#latest && this.#skip > 0) {
      this.#skip--;
      return;
    }
    this.#read++;
    if (this.#latest === undefined || line.time > this.#latest) this.#skipThrough(line.time, 0);
    else if (line.time === this.#latest) this.#atLatest++;
    if (this.#dropped > 0) line.dropped = this.#dropped;
    this.#dropped = this.#queue.offer(line) ? 0 : this.#dropped + 1;
  }

  /** The latest moment read, with one line read at it. */
  #skipThrough(time: bigint, skip = 1): void {
    this.#latest = time;
    this.#atLatest = 1;
    this.#skip = skip;
  }

  /**
   * After the engine's stream ended: true once the log is to be opened again, false when the module's
   * container is gone. A container that stopped is waited for until it runs again. One the store still
   * shows running stopped a moment ago (its event is on the way), restarted already, or its stream broke:
   * the log is opened again at once after a stream that brought lines, after a growing pause otherwise
   * (an engine that is down, say).
   */
  async #runsAgain(quiet: number): Promise<boolean> {
    for (let stopped = false; ; ) {
      const container = this.#store.container(this.#module);
      if (container?.id !== this.#container.id || this.#signal.aborted) return false;
      const running = container.state === 'running';
      if (running && (quiet === 0 || stopped)) return true;
      stopped ||= !running;
      const changed = await this.#moduleChange(running ? backoffDelay(quiet - 1, 100, 2_000) : undefined);
      if (!changed && running) return true;
    }
  }

  /** Resolves true on the module's next visible change, false when `timeoutMs` passes first or the subscriber leaves. */
  #moduleChange(timeoutMs: number | undefined): Promise<boolean> {
    return new Promise((resolve) => {
      const settle = (changed: boolean) => {
        stopListening();
        clearTimeout(timer);
        this.#signal.removeEventListener('abort', left);
        resolve(changed);
      };
      const left = () => settle(false);
      const stopListening = this.#store.onModuleChanged((module) => {
        if (module.spec.name === this.#module) settle(true);
      });
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => settle(false), timeoutMs);
      this.#signal.addEventListener('abort', left, { once: true });
    });
  }
}
