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
    const [last] = (await this.#docker.logs.read(this.#container.id, { tty: this.#container.tty, tail: 1, since: this.#since })).lines;
    if (last) this.#skipThrough(last.time);
    return this.#stream({ since: last?.time ?? this.#since });
  }

  /** Delivers the stream's lines, and those of every later run of the container, until it is gone or the subscriber leaves. */
  async follow(first: AsyncIterable<LogLine[]>): Promise<void> {
    let stream: AsyncIterable<LogLine[]> | undefined = first;
    for (let quiet = 0; !this.#signal.aborted; ) {
      const latest = this.#latest;
      try {
        stream ??= await this.#stream({ since: this.#latest ?? this.#since });
        for await (const batch of stream) for (const line of batch) this.#deliver(line);
      } catch (error) {
        if (this.#signal.aborted) return;
        this.#log.debug({ err: error, module: this.#module, container: this.#container.id }, 'a module log stream broke; opening it again');
      }
      stream = undefined;
      // Only a later moment is progress: an engine that ends each stream at once with its own error is not.
      quiet = this.#latest === latest ? quiet + 1 : 0;
      if (!(await this.#runsAgain(quiet))) return;
      this.#skip = this.#atLatest;
    }
  }

  #stream(query: Omit<LogQuery, 'tty'>): Promise<AsyncIterable<LogLine[]>> {
    return this.#docker.logs.follow(this.#container.id, { tty: this.#container.tty, ...query }, this.#signal);
  }

  #deliver(line: FollowedLogLine): void {
    // The engine's own error, with no stamp, neither repeats a line nor moves the log on: it is only passed on.
    if (!line.undated && !this.#counted(line)) return;
    if (this.#dropped > 0) line.dropped = this.#dropped;
    this.#dropped = this.#queue.offer(line) ? 0 : this.#dropped + 1;
  }

  /** Whether the line is new (then it counts towards the latest moment), rather than one read before a reopening. */
  #counted(line: LogLine): boolean {
    if (line.time === this.#latest && this.#skip > 0) {
      this.#skip--;
      return false;
    }
    if (this.#latest === undefined || line.time > this.#latest) this.#skipThrough(line.time, 0);
    else if (line.time === this.#latest) this.#atLatest++;
    return true;
  }

  /** The latest moment read, with one line read at it. */
  #skipThrough(time: bigint, skip = 1): void {
    this.#latest = time;
    this.#atLatest = 1;
    this.#skip = skip;
  }

  /**
   * After the engine's stream ended: true once the log is to be opened again, false when the module's
   * container is gone. A container that stopped is waited for until it runs again, and its log opened at
   * once. One the store shows running all along (it stopped a moment ago and its event is on the way, it
   * restarted already, or its stream broke) gets a pause first, growing while streams bring nothing new
   * (an engine that is down, or that ends each stream at once): never a stream opened over and over.
   */
  async #runsAgain(quiet: number): Promise<boolean> {
    const paused = AbortSignal.timeout(Math.round(backoffDelay(quiet, 100, 2_000)));
    for (let stopped = false; ; ) {
      const container = this.#store.container(this.#module);
      if (container?.id !== this.#container.id || this.#signal.aborted) return false;
      const running = container.state === 'running';
      if (running && (stopped || paused.aborted)) return true;
      stopped ||= !running;
      await this.#moduleChange(running ? AbortSignal.any([this.#signal, paused]) : this.#signal);
    }
  }

  /** Resolves on the module's next visible change, or when `until` aborts (the subscriber left, a pause is over). */
  #moduleChange(until: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const settle = () => {
        stopListening();
        until.removeEventListener('abort', settle);
        resolve();
      };
      const stopListening = this.#store.onModuleChanged((module) => {
        if (module.spec.name === this.#module) settle();
      });
      until.addEventListener('abort', settle, { once: true });
    });
  }
}
