import type { EngineRequests } from './engine-requests.ts';
import type { EngineEvent, EngineEventType } from './engine-types.ts';
import { engineEvents, filteredActions } from './event-stream.ts';

export interface EventClient {
  /**
   * Container and image events (and service and node events when `swarm`: only a Swarm manager sends them)
   * from now on, until the signal aborts or the connection breaks; only these actions when given (the engine
   * matches "health_status" to "health_status: healthy").
   */
  stream(signal: AbortSignal, actions?: readonly string[], options?: { swarm?: boolean }): Promise<AsyncIterable<EngineEvent>>;
}

export class DockerEventClient implements EventClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async stream(signal: AbortSignal, actions?: readonly string[], { swarm = false } = {}): Promise<AsyncIterable<EngineEvent>> {
    const { docker, log } = this.#requests;
    const types: EngineEventType[] = swarm ? ['container', 'image', 'service', 'node'] : ['container', 'image'];
    const filters = { type: types, ...(actions && { event: filteredActions(actions) }) };
    const stream = await this.#requests.follow('subscribe to engine events', signal, (abortSignal) => docker.getEvents({ filters, abortSignal }));
    log.debug('subscribed to engine events');
    return engineEvents(stream, (line) => log.warn({ line: line.slice(0, 200) }, 'skipped a malformed engine event'));
  }
}
