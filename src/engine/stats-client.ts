import { toContainerStats } from './container-stats.ts';
import type { EngineRequests } from './engine-requests.ts';
import type { ContainerStats } from './engine-types.ts';
import { jsonLines } from './json-lines.ts';

export interface StatsClient {
  /**
   * The container's figures about once a second while it runs, as `docker stats` computes them, until the
   * signal aborts or the connection breaks. The engine keeps the stream open after the container stops,
   * sending nothing berth shows: the caller closes it.
   */
  stream(containerId: string, signal: AbortSignal): Promise<AsyncIterable<ContainerStats>>;
}

export class DockerStatsClient implements StatsClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async stream(containerId: string, signal: AbortSignal): Promise<AsyncIterable<ContainerStats>> {
    const { docker, log } = this.#requests;
    const container = docker.getContainer(containerId);
    // dockerode passes the signal on; its types do not say so for a stream of stats.
    const stats = container.stats.bind(container) as (options: { stream: true; abortSignal: AbortSignal }) => Promise<NodeJS.ReadableStream>;
    const body = await this.#requests.follow(`follow the stats of container ${containerId}`, signal, (abortSignal) => stats({ stream: true, abortSignal }));
    log.debug({ container: containerId }, 'following container stats');
    return jsonLines(body, toContainerStats, (line) => log.warn({ container: containerId, line: line.slice(0, 200) }, 'skipped a malformed stats object'));
  }
}
