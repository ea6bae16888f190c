import type { EngineRequests } from './engine-requests.ts';
import type { ImageDetails, ImageSummary } from './engine-types.ts';

export interface ImageClient {
  /** Every image on the engine, with its references. */
  list(): Promise<ImageSummary[]>;
  /** undefined when the engine has no image of that reference. */
  inspect(reference: string): Promise<ImageDetails | undefined>;
}

export class DockerImageClient implements ImageClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async list(): Promise<ImageSummary[]> {
    const { docker, log } = this.#requests;
    const images = await this.#requests.read('list images', (abortSignal) => docker.listImages({ abortSignal }));
    log.debug({ count: images.length }, 'listed images');
    return images.map((image) => ({
      id: image.Id,
      references: [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])].filter((reference) => !reference.startsWith('<none>')),
    }));
  }

  async inspect(reference: string): Promise<ImageDetails | undefined> {
    const details = await this.#requests.lookup(`inspect image ${reference}`, (abortSignal) => this.#requests.get<{ Id: string }>(`/images/${reference}/json`, abortSignal));
    this.#requests.log.debug({ image: reference, id: details?.Id }, details ? 'image present' : 'image absent');
    return details && { id: details.Id };
  }
}
