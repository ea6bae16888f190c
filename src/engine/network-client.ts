import type Dockerode from 'dockerode';
import { engineStatusCode } from './engine-error.ts';
import type { EngineRequests } from './engine-requests.ts';
import type { EngineNetwork } from './engine-types.ts';

export interface NetworkClient {
  /**
   * The networks of exactly this name. An engine before API 1.44 can hold several: two creates at the
   * same moment (two berths on one engine) both succeed, and the name alone is then ambiguous.
   */
  named(name: string): Promise<EngineNetwork[]>;
  /** How many containers, running or stopped, have joined the network (one created but never started has not yet). */
  users(id: string): Promise<number>;
  /**
   * A bridge network, or with `overlay` a Swarm overlay network that plain containers may join too (attachable):
   * services can join only such a one. Answers its id.
   */
  create(name: string, labels: Record<string, string>, options?: { overlay?: boolean }): Promise<string | undefined>;
  /** Removes it; false when it is gone or in use meanwhile. */
  remove(id: string): Promise<boolean>;
  /** Joins the container to the network, reachable there by its aliases too. */
  connect(network: string, container: string, aliases: string[]): Promise<void>;
}

export class DockerNetworkClient implements NetworkClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async named(name: string): Promise<EngineNetwork[]> {
    const { docker } = this.#requests;
    const networks = await this.#requests.read(`list networks named ${name}`, (abortSignal) => docker.listNetworks({ filters: { name: [name] }, abortSignal }));
    // The engine's name filter matches parts of names too.
    return networks
      .filter((network) => network.Name === name)
      .map((network) => ({ id: network.Id, name: network.Name, labels: network.Labels ?? {}, created: new Date(network.Created), driver: network.Driver }));
  }

  async users(id: string): Promise<number> {
    const { docker } = this.#requests;
    const containers = await this.#requests.read(`list the containers of network ${id}`, (abortSignal) => docker.listContainers({ all: true, filters: { network: [id] }, abortSignal }));
    return containers.length;
  }

  async remove(id: string): Promise<boolean> {
    const { docker, log } = this.#requests;
    try {
      await this.#requests.write(`remove network ${id}`, (abortSignal) => docker.getNetwork(id).remove({ abortSignal }));
      log.debug({ network: id }, 'removed network');
      return true;
    } catch (error) {
      // 404: gone; 403 or 409: a container joined it meanwhile.
      if ([403, 404, 409].includes(engineStatusCode(error) ?? 0)) return false;
      throw error;
    }
  }

  async create(name: string, labels: Record<string, string>, { overlay = false } = {}): Promise<string | undefined> {
    const { docker, log } = this.#requests;
    try {
      // CheckDuplicate: engines before API 1.44 otherwise make a second network of a name even without a race.
      const network = await this.#requests.write(`create network ${name}`, (abortSignal) => docker.createNetwork({ Name: name, Driver: overlay ? 'overlay' : 'bridge', ...(overlay && { Attachable: true }), Labels: labels, CheckDuplicate: true, abortSignal }));
      log.debug({ network: name, id: network.id }, 'created network');
      return network.id;
    } catch (error) {
      // Made meanwhile by someone else: named() finds it.
      if (engineStatusCode(error) !== 409) throw error;
      return undefined;
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
