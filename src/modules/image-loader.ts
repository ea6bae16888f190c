import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import { BerthError } from '../errors.ts';
import type { ModuleReader } from './module-reader.ts';
import type { ModuleStore } from './module-store.ts';

/**
 * Loads `docker save` archives as they are uploaded: the upload goes to the engine as it arrives, never
 * whole in memory or on disk. An upload that fails on the way (cut short, too large) aborts the engine's
 * load, which then keeps no image of it.
 */
export class ImageLoader {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #reader: ModuleReader;
  readonly #log: Logger;

  constructor({ docker, store, reader, logger }: { docker: DockerClient; store: ModuleStore; reader: ModuleReader; logger: Logger }) {
    this.#docker = docker;
    this.#store = store;
    this.#reader = reader;
    this.#log = logger;
  }

  /** Answers the references loaded; docker.yaml's images are read again, so the answer's statuses are current. */
  async load(archive: Readable, until: AbortSignal): Promise<string[]> {
    const uploadFailed = new AbortController();
    const failure = new Promise<never>((_, reject) =>
      archive.once('error', (error: Error) => {
        uploadFailed.abort();
        reject(new BerthError('LOAD_FAILED', `the upload failed, and nothing was loaded: ${error.message}`));
      }),
    );
    failure.catch(() => {});
    const loaded = await Promise.race([this.#docker.images.load(archive, AbortSignal.any([until, uploadFailed.signal])), failure]);
    this.#log.info({ loaded }, 'images loaded');
    for (const observation of await Promise.all(this.#store.references.map((reference) => this.#reader.image(reference)))) this.#store.observe(observation);
    return loaded;
  }
}
