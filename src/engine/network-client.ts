import type Dockerode from 'dockerode';
import { engineStatusCode } from './engine-error.ts';
import type { EngineRequests } from './engine-requests.ts';
import type { EngineResource } from './engine-types.ts';

export interface NetworkClient {
  /** undefined when the engine has no network of that name. */
  inspect(name: string): Promise<EngineResource | undefined>;
  /** A bridge network; one of that name made meanwhile (by another berth) counts as made. */
  create(name: string, labels: Record<string, string>): Promise<void>;
  /** Joins the container to the network, reachable there by its aliases too. */
  connect(network: string, container: string, aliases: string[]): Promise<void>;
}

export class DockerNetworkClient implements NetworkClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async inspect(name: string): Promise<EngineResource | undefined> {
    const network = await this.#requests.lookup(`inspect network ${name}`, (abortSignal) =>
      this.#requests.get<{ Id: string; Name: string; Labels: Record<string, string> | null }>(`/networks/${encodeURIComponent(name)}`, abortSignal),
    );
    return network && { id: network.Id, name: network.Name, labels: network.Labels ?? {} };
  }

  async create(name: string, labels: Record<string, string>): Promise<void> {
    const { docker, log } = this.#requests;
    try {
      // CheckDuplicate: engines before API 1.44 otherwise make a second network of the same name.
      await this.#requests.write(`create network ${name}`, (abortSignal) => docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true, abortSignal }));
      log.debug({ network: name }, 'created network');
    } catch (error) {
      if (engineStatusCode(error) !== 409) throw error;
    }
  }

  async connect(network: string, container: string, aliases: string[]): Promise<void> {
    const { docker, log } = this.#requests;
    await this.#requests.write(`connect container ${container} to network ${network}`, (abortSignal) =>
      // dockerode passes abortSignal on, though its types do not name it.
      docker.getNetwork(network).connect({ Container: container, EndpointConfig: { Aliases: aliases }, abortSignal } as Dockerode.NetworkConnectOptions),
    );
    log.debug({ network, container, aliases }, 'connected container to network');
  }
}
