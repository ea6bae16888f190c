import type Dockerode from 'dockerode';
import type { EngineRequests } from './engine-requests.ts';
import type { EngineVersion } from './engine-types.ts';

export interface SystemClient {
  /** Also the cheap ping of the watchdog and of recovery. */
  version(): Promise<EngineVersion>;
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
}
