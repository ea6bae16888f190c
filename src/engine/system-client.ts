import type Dockerode from 'dockerode';
import type { EngineRequests } from './engine-requests.ts';
import type { EngineVersion, SwarmMembership } from './engine-types.ts';

export interface SystemClient {
  version(): Promise<EngineVersion>;
  /** undefined when the engine is in no swarm (or still joining one). */
  swarm(): Promise<SwarmMembership | undefined>;
  /**
   * The watchdog's check that the engine still answers: `/_ping`, which both engines answer at once, where
   * Podman takes seconds over `/version` (it asks its OCI runtime and conmon for theirs).
   */
  ping(): Promise<void>;
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

  async ping(): Promise<void> {
    await this.#requests.read('ping the engine', (abortSignal) => this.#requests.get('/_ping', abortSignal));
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
