import type { EngineRequests } from './engine-requests.ts';
import type { ImageDetails, ImageSummary } from './engine-types.ts';

export interface ImageClient {
  /** Every image on the engine, with its references. */
  list(): Promise<ImageSummary[]>;
  /** undefined when the engine has no image of that reference. */
  inspect(reference: string): Promise<ImageDetails | undefined>;
}

interface Modem {
  dial(options: object, callback: (error: unknown, data: unknown) => void): void;
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
    const details = await this.#requests.lookup(`inspect image ${reference}`, (abortSignal) => this.#inspect(reference, abortSignal));
    this.#requests.log.debug({ image: reference, id: details?.Id }, details ? 'image present' : 'image absent');
    return details && { id: details.Id };
  }

  /** dockerode's Image.inspect does not pass an abort signal on: the same request through its modem, which does. */
  #inspect(reference: string, abortSignal: AbortSignal): Promise<{ Id: string }> {
    const modem = this.#requests.docker.modem as Modem;
    const options = { path: `/images/${reference}/json`, method: 'GET', abortSignal, statusCodes: { 200: true, 404: 'no such image', 500: 'server error' } };
    return new Promise((resolve, reject) => modem.dial(options, (error, data) => (error ? reject(error) : resolve(data as { Id: string }))));
  }
}
