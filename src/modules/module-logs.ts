import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import { BerthError } from '../errors.ts';
import { PushQueue } from '../lib/async-iteration.ts';
import { LogFollower, type FollowedLogLine } from './log-follower.ts';
import type { ModuleStore } from './module-store.ts';

export interface LogRequest {
  /** The last lines of the log to start with, from 0 to maxLogTail. */
  tail: number;
  /** Only the lines from this moment on, itself included. */
  since?: Date | null | undefined;
}

/** The most lines `tail` may ask for: an answer is held whole, and `Module.logs` is not a log store. */
export const maxLogTail = 10_000;

export interface ModuleLogsOptions {
  docker: DockerClient;
  store: ModuleStore;
  logger: Logger;
  /**
   * What a follower holds for a subscriber that does not keep up, in UTF-16 units of text (String length;
   * each line counts 100 more); default 2 Mi: 2 MiB of ASCII text, up to twice that of other text.
   */
  bufferLength?: number;
}

/** What a held line costs besides its text: the objects around it. */
const lineOverhead = 100;

/**
 * Modules' logs: the container's log read at once, or followed across the container's restarts until
 * the container is gone. Each follower has its own engine stream and its own bounded buffer.
 */
export class ModuleLogs {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #log: Logger;
  readonly #bufferLength: number;

  constructor({ docker, store, logger, bufferLength = 2 * 1024 * 1024 }: ModuleLogsOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#log = logger;
    this.#bufferLength = bufferLength;
  }

  /**
   * The last lines of the module's container's log; none without a container. When the read left older
   * lines out to keep the answer small, the first line says how many in `dropped`.
   */
  async read(module: string, request: LogRequest): Promise<FollowedLogLine[]> {
    checkLogRequest(request);
    const container = await this.#container(module);
    if (!container || request.tail === 0) return [];
    const { lines, leftOut } = await this.#docker.logs.read(container.id, { tty: container.tty, tail: request.tail, since: nanoseconds(request.since) });
    return leftOut > 0 && lines[0] ? [{ ...lines[0], dropped: leftOut }, ...lines.slice(1)] : lines;
  }

  /**
   * The last `tail` lines, then every new line, across the container's restarts; ends when the module's
   * container is removed or replaced by another (at once when it has none). Fails as the first engine call
   * fails; later failures are retried. Returning the iterator closes the engine stream.
   */
  async follow(module: string, request: LogRequest): Promise<AsyncIterableIterator<FollowedLogLine>> {
    checkLogRequest(request);
    const container = await this.#container(module);
    if (!container) return ended();
    const stop = new AbortController();
    const queue = new PushQueue<FollowedLogLine>({ capacity: this.#bufferLength, weigh: (line) => line.text.length + lineOverhead, onEnd: () => stop.abort() });
    const follower = new LogFollower({ docker: this.#docker, store: this.#store, log: this.#log, module, container, queue, signal: stop.signal, since: nanoseconds(request.since) });
    try {
      const first = await follower.open(request.tail);
      void follower
        .follow(first)
        .catch((error: unknown) => this.#log.error({ err: error, module }, 'following a module log failed'))
        .finally(() => queue.end());
    } catch (error) {
      queue.end();
      throw error;
    }
    return queue;
  }

  /** The module's container as the engine has it now (with its TTY setting), if any. */
  async #container(module: string): Promise<{ id: string; tty: boolean } | undefined> {
    const id = this.#store.container(module)?.id;
    const container = id === undefined ? undefined : await this.#docker.containers.inspect(id);
    return container && { id: container.id, tty: container.tty ?? false };
  }
}

export function checkLogRequest({ tail }: LogRequest): void {
  if (!Number.isInteger(tail) || tail < 0 || tail > maxLogTail) {
    throw new BerthError('BAD_USER_INPUT', `tail must be a whole number from 0 to ${maxLogTail}, got ${tail}`);
  }
}

/** A moment in the engine's terms; one before the epoch is no bound. */
function nanoseconds(since: Date | null | undefined): bigint | undefined {
  return since && since.getTime() > 0 ? BigInt(since.getTime()) * 1_000_000n : undefined;
}

function ended(): PushQueue<FollowedLogLine> {
  const queue = new PushQueue<FollowedLogLine>();
  queue.end();
  return queue;
}
