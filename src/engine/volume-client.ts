import type { EngineRequests } from './engine-requests.ts';
import type { EngineResource } from './engine-types.ts';

export interface VolumeClient {
  /** undefined when the engine has no volume of that name. */
  inspect(name: string): Promise<EngineResource | undefined>;
  /** A local volume; the engine answers success when one of that name is there already. */
  create(name: string, labels: Record<string, string>): Promise<void>;
}

export class DockerVolumeClient implements VolumeClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async inspect(name: string): Promise<EngineResource | undefined> {
    const { docker } = this.#requests;
    const volume = await this.#requests.lookup(`inspect volume ${name}`, (abortSignal) => docker.getVolume(name).inspect({ abortSignal }));
    return volume && { id: volume.Name, name: volume.Name, labels: volume.Labels ?? {} };
  }

  async create(name: string, labels: Record<string, string>): Promise<void> {
    const { docker, log } = this.#requests;
    await this.#requests.write(`create volume ${name}`, (abortSignal) => docker.createVolume({ Name: name, Labels: labels, abortSignal }));
    log.debug({ volume: name }, 'created volume');
  }
}
