import type { Readable } from 'node:stream';
import type { EngineRequests } from './engine-requests.ts';
import type { LogLine } from './engine-types.ts';
import { logBatches, logLines } from './log-stream.ts';

export interface LogQuery {
  /** Whether the container runs with a TTY (ContainerDetails.tty): its log is then raw text rather than frames. */
  tty: boolean;
  /** Only the last lines; default all of them. */
  tail?: number | undefined;
  /** Only the lines from this moment on, itself included, in nanoseconds since the epoch; default from the first. */
  since?: bigint | undefined;
}

export interface LogClient {
  /** The container's log as it is now, stdout and stderr, oldest line first; none when the container is gone. */
  read(id: string, query: LogQuery): Promise<LogLine[]>;
  /**
   * The log, then each new line, in batches as they come, until the container stops (at once when it does not
   * run), the signal aborts or the connection breaks (the iteration then throws).
   */
  follow(id: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<LogLine[]>>;
}

export class DockerLogClient implements LogClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async read(id: string, query: LogQuery): Promise<LogLine[]> {
    const { docker, log } = this.#requests;
    const bytes = await this.#requests.lookup(`read the log of container ${id}`, (abortSignal) => docker.getContainer(id).logs({ ...engineQuery(query), follow: false, abortSignal }));
    const lines = bytes ? logLines(bytes, query.tty) : [];
    log.debug({ container: id, lines: lines.length }, 'read a container log');
    return lines;
  }

  async follow(id: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<LogLine[]>> {
    const { docker, log } = this.#requests;
    const stream = (await this.#requests.stream(`follow the log of container ${id}`, signal, (abortSignal) =>
      docker.getContainer(id).logs({ ...engineQuery(query), follow: true, abortSignal }),
    )) as Readable;
    const close = () => stream.destroy();
    if (signal.aborted) close();
    else signal.addEventListener('abort', close, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', close));
    log.debug({ container: id }, 'following a container log');
    return logBatches(stream, query.tty);
  }
}

/** The query string: both streams, with the engine's timestamps, which give each line its moment. */
function engineQuery({ tail, since }: LogQuery) {
  return {
    stdout: true,
    stderr: true,
    timestamps: true,
    ...(tail !== undefined && { tail }),
    // The engine reads "seconds.nanoseconds".
    ...(since !== undefined && { since: `${since / 1_000_000_000n}.${String(since % 1_000_000_000n).padStart(9, '0')}` }),
  };
}
