import type { Readable } from 'node:stream';
import { BerthError } from '../errors.ts';
import type { EngineRequests } from './engine-requests.ts';
import { jsonLines } from './json-lines.ts';
import type { ImageDetails, ImageSummary } from './engine-types.ts';

export interface ImageClient {
  /** Every image on the engine, with its references. */
  list(): Promise<ImageSummary[]>;
  /** undefined when the engine has no image of that reference. */
  inspect(reference: string): Promise<ImageDetails | undefined>;
  /**
   * Streams a `docker save` archive (tar, or compressed) to the engine as it arrives; answers the
   * references it loaded (an image without a tag, by id). LOAD_FAILED when the engine cannot read it.
   */
  load(archive: Readable, until: AbortSignal): Promise<string[]>;
}

interface LoadFrame {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
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

  async load(archive: Readable, until: AbortSignal): Promise<string[]> {
    const { docker, log } = this.#requests;
    const response = (await this.#requests.upload('load images', until, (abortSignal) => docker.loadImage(archive, { quiet: true, abortSignal }))) as Readable;
    const loaded: string[] = [];
    // The engine answers 200 and reports a failure (a truncated or foreign archive) in the stream.
    for await (const frame of jsonLines(response, (value) => value as LoadFrame)) {
      const failure = frame.errorDetail?.message ?? frame.error;
      if (failure) throw new BerthError('LOAD_FAILED', `the Docker engine could not load the upload: ${this.#requests.redact(failure)}`);
      const reference = /^Loaded image(?: ID)?: (\S+)/.exec(frame.stream?.trim() ?? '')?.[1];
      if (reference) loaded.push(reference);
    }
    log.debug({ loaded }, 'loaded images');
    return loaded;
  }
}
