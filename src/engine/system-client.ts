import type Dockerode from 'dockerode';
import type { EngineRequests } from './engine-requests.ts';
import type { EngineVersion, SwarmMembership } from './engine-types.ts';

export interface SystemClient {
  /** Also the cheap ping of the watchdog and of recovery. */
  version(): Promise<EngineVersion>;
  /** undefined when the engine is in no swarm (or still joining one). */
  swarm(): Promise<SwarmMembership | undefined>;
}

export class DockerSystemClient implements SystemClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async version(): Promise<EngineVersion> {
    const { docker } = this.#requests;
    // dockerode passes the signal on; its types know only the callback form of version().
    const version = docker.version.bind(docker) as (options: { abortSignal: AbortSignal }) => Promise<Dockerode.DockerVersion>;
    const info = await this.#requests.read('read the engine version', (abortSignal) => version({ abortSignal }));
    return { version: info.Version, apiVersion: info.ApiVersion };
  }

  async swarm(): Promise<SwarmMembership | undefined> {
    const { docker } = this.#requests;
    // As version(): dockerode passes the signal on, its types do not say so.
    const read = docker.info.bind(docker) as (options: { abortSignal: AbortSignal }) => Promise<EngineInfo>;
    const info = await this.#requests.read('read the engine info', (abortSignal) => read({ abortSignal }));
    const { NodeID: nodeId, LocalNodeState: state, ControlAvailable: manager } = info.Swarm ?? {};
    return state === 'active' && nodeId ? { nodeId, manager: manager === true } : undefined;
  }
}

/** The fields of GET /info that berth reads. */
interface EngineInfo {
  Swarm?: { NodeID?: string; LocalNodeState?: string; ControlAvailable?: boolean };
}
