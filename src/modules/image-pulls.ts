import type { Logger } from 'pino';
import type { ModuleSpec, RegistryCredentials } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import type { PullFrame, RegistryAuth } from '../engine/image-pull-client.ts';
import { familiarReference, splitRegistry } from '../engine/image-reference.ts';
import { BerthError } from '../errors.ts';
import { LatestValue, mapIterator } from '../lib/async-iteration.ts';
import { within } from '../lib/timing.ts';
import type { ModuleReader } from './module-reader.ts';
import type { ModuleStore } from './module-store.ts';

export type PullState = 'PULLING' | 'DONE' | 'FAILED';

/** A layer as the docker CLI shows it: its last status, and the bytes of the phase that status counts, if any. */
export interface PullLayer {
  id: string;
  status: string;
  current: number | undefined;
  total: number | undefined;
}

/** An image's pull at one moment: a fresh object at every change, never changed after. */
export interface PullProgress {
  image: string;
  state: PullState;
  /** Bytes downloaded, over every layer. */
  current: number;
  /** Bytes to download: the sizes of the layers the engine has sized so far. */
  total: number;
  layers: readonly PullLayer[];
  /** Why it failed, secrets scrubbed. */
  error: string | undefined;
}

/** A module's view of its image's pull. */
export interface ImagePull extends PullProgress {
  module: string;
}

export interface ImagePullsOptions {
  docker: DockerClient;
  store: ModuleStore;
  reader: ModuleReader;
  /** Credentials by registry host, from docker.yaml. */
  registries: Readonly<Record<string, RegistryCredentials>>;
  logger: Logger;
  /** How long start() waits for the engine to accept a pull before answering it PULLING anyway; default 5 s. */
  answerWaitMs?: number;
}

/**
 * The pulls of the modules' images: one at a time per image, which a second start joins, and its progress
 * for followers. Each image keeps its last pull, so that a follower that comes after the end gets how it
 * ended. A pull that is DONE has put the image in the store, so the module is NOT_CREATED (and autostarts)
 * by the time a follower sees DONE.
 */
export class ImagePulls {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #reader: ModuleReader;
  #registries: Readonly<Record<string, RegistryCredentials>>;
  readonly #log: Logger;
  readonly #answerWaitMs: number;
  /** By image, in its familiar form: modules that name one image in two spellings share its pull. */
  readonly #progress = new Map<string, LatestValue<PullProgress>>();
  readonly #running = new Map<string, Pull>();
  /** Each module's view of a progress, made once, so that its followers share one event object. */
  readonly #views = new WeakMap<PullProgress, Map<string, ImagePull>>();

  constructor({ docker, store, reader, registries, logger, answerWaitMs = 5_000 }: ImagePullsOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#reader = reader;
    this.#registries = registries;
    this.#log = logger;
    this.#answerWaitMs = answerWaitMs;
  }

  /**
   * Starts pulling the module's image, or joins the pull under way, and answers once the engine has
   * accepted it (or after answerWaitMs): a refusal (wrong password, missing tag) fails here, PULL_FAILED.
   */
  async start(spec: ModuleSpec): Promise<ImagePull> {
    const key = familiarReference(spec.image);
    let pull = this.#running.get(key);
    if (!pull) {
      pull = new Pull(spec.image, this.#latest(key));
      this.#running.set(key, pull);
      void this.#run(pull).finally(() => this.#running.delete(key));
    }
    await within(pull.accepted, this.#answerWaitMs, undefined);
    return this.#view(pull.progress.value!, spec.name);
  }

  /** The image's pull from now until it ends: the last one when it has ended, the next one when there was none. */
  follow(spec: ModuleSpec): AsyncIterableIterator<ImagePull> {
    const updates = this.#latest(familiarReference(spec.image)).follow((progress) => progress.state !== 'PULLING');
    let opening = true;
    return mapIterator(updates, (progress) => {
      const view = this.#view(progress, spec.name);
      if (!opening) return view;
      opening = false;
      // The follower's own copy: shared execution keys results by the event object, and an earlier follower's
      // execution of this one showed the module as it was then.
      return { ...view };
    });
  }

  /** The credentials of the pulls that begin from now on (a reload's); those under way keep theirs. */
  useRegistries(registries: Readonly<Record<string, RegistryCredentials>>): void {
    this.#registries = registries;
  }

  /** Cancels the pulls under way: berth is stopping. */
  stop(): void {
    for (const pull of this.#running.values()) pull.cancel.abort();
  }

  async #run(pull: Pull): Promise<void> {
    const began = Date.now();
    try {
      const frames = await this.#docker.pulls.pull(pull.image, this.#auth(pull.image), pull.cancel.signal);
      pull.accept();
      for await (const frame of frames) pull.apply(frame);
      const observation = await this.#reader.image(pull.image);
      this.#store.observe(observation);
      if (!observation.image) throw new BerthError('PULL_FAILED', `pulling "${pull.image}" ended, but the image is not on the engine`);
      pull.finish();
      this.#log.info({ image: pull.image, bytes: pull.progress.value!.total, ms: Date.now() - began }, 'image pulled');
    } catch (error) {
      const failure = error instanceof BerthError ? error : new BerthError('PULL_FAILED', `pulling "${pull.image}" failed unexpectedly`);
      if (!(error instanceof BerthError)) this.#log.error({ err: error, image: pull.image }, 'image pull failed unexpectedly');
      else this.#log.warn({ image: pull.image, code: failure.code, reason: failure.message }, 'image pull failed');
      pull.fail(failure);
    }
  }

  /** The credentials docker.yaml gives the image's registry, if any. */
  #auth(image: string): RegistryAuth | undefined {
    const { registry } = splitRegistry(image);
    if (!Object.hasOwn(this.#registries, registry)) return undefined;
    return { ...this.#registries[registry]!, serverAddress: registry };
  }

  #latest(key: string): LatestValue<PullProgress> {
    let latest = this.#progress.get(key);
    if (!latest) this.#progress.set(key, (latest = new LatestValue()));
    return latest;
  }

  #view(progress: PullProgress, module: string): ImagePull {
    let byModule = this.#views.get(progress);
    if (!byModule) this.#views.set(progress, (byModule = new Map()));
    let view = byModule.get(module);
    if (!view) byModule.set(module, (view = { ...progress, module }));
    return view;
  }
}

/** What berth knows of a layer; `size` and `downloaded` feed the pull's overall bytes. */
interface LayerProgress extends PullLayer {
  size: number;
  downloaded: number;
}

/** Statuses after which a layer is wholly downloaded. */
const downloaded = new Set(['Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete']);

/** One pull of one image: the engine's frames folded into progress, published as a fresh snapshot each. */
class Pull {
  readonly image: string;
  readonly progress: LatestValue<PullProgress>;
  readonly cancel = new AbortController();
  /** Settles when the engine answers: accepted, or refused with the error. */
  readonly accepted: Promise<void>;
  readonly #layers = new Map<string, LayerProgress>();
  #answered!: { resolve: () => void; reject: (error: Error) => void };

  constructor(image: string, progress: LatestValue<PullProgress>) {
    this.image = image;
    this.progress = progress;
    this.accepted = new Promise((resolve, reject) => (this.#answered = { resolve, reject }));
    // Joiners that come after the answer do not wait for it: a refusal must not go unhandled.
    this.accepted.catch(() => {});
    this.#publish('PULLING');
  }

  accept(): void {
    this.#answered.resolve();
  }

  apply({ layer: id, status, current, total }: PullFrame): void {
    if (id === undefined) return;
    let layer = this.#layers.get(id);
    if (!layer) this.#layers.set(id, (layer = { id, status, current: undefined, total: undefined, size: 0, downloaded: 0 }));
    layer.status = status;
    if (current !== undefined && total !== undefined) {
      layer.current = current;
      layer.total = total;
      // A layer too small to report its download is sized by its extraction, which counts the same bytes.
      if (status === 'Downloading' || layer.size === 0) layer.size = total;
      if (status === 'Downloading') layer.downloaded = current;
    } else {
      layer.current = layer.total = undefined;
    }
    if (downloaded.has(status)) layer.downloaded = layer.size;
    this.#publish('PULLING');
  }

  finish(): void {
    this.#publish('DONE');
  }

  fail(error: BerthError): void {
    this.#answered.reject(error);
    this.#publish('FAILED', error.message);
  }

  #publish(state: PullState, error?: string): void {
    const layers = [...this.#layers.values()];
    this.progress.set({
      image: this.image,
      state,
      current: layers.reduce((sum, layer) => sum + layer.downloaded, 0),
      total: layers.reduce((sum, layer) => sum + layer.size, 0),
      layers: layers.map(({ id, status, current, total }) => ({ id, status, current, total })),
      error,
    });
  }
}
