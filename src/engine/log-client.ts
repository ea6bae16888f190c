import type { EngineRequests } from './engine-requests.ts';
import type { LogLine } from './engine-types.ts';
import { logBatches } from './log-stream.ts';

export interface LogQuery {
  /** Whether the container runs with a TTY (ContainerDetails.tty): its log is then raw text rather than frames. */
  tty: boolean;
  /** Only the last lines (the engine counts its messages, up to 16 KiB each); default all of them. */
  tail?: number | undefined;
  /** Only the lines from this moment on, itself included, in nanoseconds since the epoch; default from the first. */
  since?: bigint | undefined;
}

/** A log as a read keeps it. */
export interface LogRead {
  /** The last lines, oldest first. */
  lines: LogLine[];
  /** How many lines before them were left out to keep within readTextLength. */
  leftOut: number;
}

/**
 * The most text a read keeps, in UTF-16 units (String length): the answer is held whole, and a tail of
 * 10,000 of the engine's messages can be 160 MiB.
 */
export const readTextLength = 8 * 1024 * 1024;

export interface LogClient {
  /** The container's log as it is now, stdout and stderr, oldest line first; none when the container is gone. */
  read(id: string, query: LogQuery): Promise<LogRead>;
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

  /** Reads the body as it comes, keeping only what the answer holds; within the read deadline, body included. */
  async read(id: string, query: LogQuery): Promise<LogRead> {
    const requests = this.#requests;
    const doing = `read the log of container ${id}`;
    const read = await requests.lookup(doing, async (signal) => {
      const body = await requests.follow(doing, signal, (abortSignal) =>
        requests.getStream(`/containers/${id}/logs`, { ...engineQuery(query), follow: false }, abortSignal),
      );
      return lastLines(logBatches(body, query.tty, query.since));
    });
    requests.log.debug({ container: id, lines: read?.lines.length ?? 0, leftOut: read?.leftOut ?? 0 }, 'read a container log');
    return read ?? { lines: [], leftOut: 0 };
  }

  async follow(id: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<LogLine[]>> {
    const { docker, log } = this.#requests;
    const body = await this.#requests.follow(`follow the log of container ${id}`, signal, (abortSignal) =>
      docker.getContainer(id).logs({ ...engineQuery(query), follow: true, abortSignal }),
    );
    log.debug({ container: id }, 'following a container log');
    return logBatches(body, query.tty, query.since);
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

/** The last lines whose text fits in readTextLength; the older ones are counted, not kept. */
async function lastLines(batches: AsyncIterable<LogLine[]>): Promise<LogRead> {
  const kept: (LogLine | undefined)[] = [];
  let first = 0;
  let length = 0;
  for await (const batch of batches) {
    for (const line of batch) {
      kept.push(line);
      length += line.text.length;
      for (; length > readTextLength; first++) {
        length -= kept[first]!.text.length;
        kept[first] = undefined;
      }
    }
  }
  return { lines: kept.slice(first) as LogLine[], leftOut: first };
}
