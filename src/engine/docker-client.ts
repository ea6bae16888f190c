import Dockerode from 'dockerode';
import type { Logger } from 'pino';
import type { Readable } from 'node:stream';
import type { EngineContainerState } from '../modules/module-status.ts';
import { engineStatusCode, toBerthError, type Redact } from './engine-error.ts';
import { engineEvents, type EngineEvent } from './event-stream.ts';

export interface EngineVersion {
  version: string;
  apiVersion: string;
}

export interface ContainerSummary {
  id: string;
  /** Without the engine's leading "/". */
  name: string;
  state: EngineContainerState;
  labels: Record<string, string>;
}

export interface ContainerDetails extends ContainerSummary {
  image: string;
  startedAt: Date | undefined;
  exitCode: number | undefined;
}

export type ContainerCreateOptions = Dockerode.ContainerCreateOptions & { name: string };

/** What berth asks of a Docker engine; one Docker implementation, small fakes in unit tests. */
export interface DockerClient {
  version(): Promise<EngineVersion>;
  hasImage(reference: string): Promise<boolean>;
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** undefined when no container has that id or name. */
  inspectContainer(idOrName: string): Promise<ContainerDetails | undefined>;
  createContainer(options: ContainerCreateOptions): Promise<string>;
  /** Succeeds when the container already runs. */
  startContainer(id: string): Promise<void>;
  /** Succeeds when the container is already stopped. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  unpauseContainer(id: string): Promise<void>;
  removeContainer(id: string): Promise<void>;
  /** Container and image events from now on, until the signal aborts or the connection breaks. */
  events(signal: AbortSignal): Promise<AsyncIterable<EngineEvent>>;
}

export interface DockerodeClientOptions {
  /** dockerode connection options; default: from DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH as the docker CLI reads them. */
  connection?: Dockerode.DockerOptions;
  /** Longest wait for a read (version, list, inspect), so a frozen engine counts as unreachable. Default 10 s. */
  readTimeoutMs?: number;
  /**
   * Longest wait for a change (create, start, stop beyond its own timeout, unpause, remove): past it
   * the request is aborted and the operation fails, so a frozen engine never holds a module's lock.
   * Default 60 s.
   */
  writeTimeoutMs?: number;
  /** Scrubs secrets from the engine's messages; default none. */
  redact?: Redact;
  logger: Logger;
}

export class DockerodeClient implements DockerClient {
  readonly #docker: Dockerode;
  readonly #log: Logger;
  readonly #redact: Redact;
  readonly #readTimeoutMs: number;
  readonly #writeTimeoutMs: number;

  constructor({ connection, logger, readTimeoutMs = 10_000, writeTimeoutMs = 60_000, redact = (text) => text }: DockerodeClientOptions) {
    this.#redact = redact;
    this.#docker = new Dockerode(connection);
    this.#log = logger;
    this.#readTimeoutMs = readTimeoutMs;
    this.#writeTimeoutMs = writeTimeoutMs;
  }

  /** Aborts a change's request once the engine has had its time (plus `extraMs`, a stop's own grace). */
  #writeDeadline(extraMs = 0): AbortSignal {
    return AbortSignal.timeout(this.#writeTimeoutMs + extraMs);
  }

  /** A read that the engine does not answer in time fails as a timeout, so a frozen engine counts as unreachable. */
  async #bounded<T>(read: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${this.#readTimeoutMs} ms`), { name: 'TimeoutError' })), this.#readTimeoutMs);
    });
    try {
      return await Promise.race([read, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async version(): Promise<EngineVersion> {
    const info = await this.#call('read the engine version', () => this.#bounded(this.#docker.version()));
    return { version: info.Version, apiVersion: info.ApiVersion };
  }

  async hasImage(reference: string): Promise<boolean> {
    try {
      await this.#bounded(this.#docker.getImage(reference).inspect());
      this.#log.debug({ image: reference }, 'image present');
      return true;
    } catch (error) {
      if (engineStatusCode(error) === 404) {
        this.#log.debug({ image: reference }, 'image absent');
        return false;
      }
      throw toBerthError(error, `inspect image ${reference}`, this.#redact);
    }
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const label = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
    const list = await this.#call('list containers', () => this.#bounded(this.#docker.listContainers({ all: true, filters: { label } })));
    this.#log.debug({ labels, count: list.length }, 'listed containers');
    return list.map(fromSummary);
  }

  async inspectContainer(idOrName: string): Promise<ContainerDetails | undefined> {
    try {
      const details = await this.#bounded(this.#docker.getContainer(idOrName).inspect());
      this.#log.debug({ container: details.Id, state: details.State.Status }, 'inspected container');
      return fromInspect(details);
    } catch (error) {
      if (engineStatusCode(error) === 404) return undefined;
      throw toBerthError(error, `inspect container ${idOrName}`, this.#redact);
    }
  }

  async createContainer(options: ContainerCreateOptions): Promise<string> {
    const container = await this.#call(`create container ${options.name}`, () => this.#docker.createContainer({ ...options, abortSignal: this.#writeDeadline() }));
    this.#log.debug({ container: container.id, name: options.name }, 'created container');
    return container.id;
  }

  async startContainer(id: string): Promise<void> {
    await this.#tolerating304(`start container ${id}`, () => this.#docker.getContainer(id).start({ abortSignal: this.#writeDeadline() }));
    this.#log.debug({ container: id }, 'started container');
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.#tolerating304(`stop container ${id}`, () => this.#docker.getContainer(id).stop({ t: timeoutSeconds, abortSignal: this.#writeDeadline(timeoutSeconds * 1000) }));
    this.#log.debug({ container: id, timeoutSeconds }, 'stopped container');
  }

  async unpauseContainer(id: string): Promise<void> {
    await this.#call(`unpause container ${id}`, () => this.#docker.getContainer(id).unpause({ abortSignal: this.#writeDeadline() }));
    this.#log.debug({ container: id }, 'unpaused container');
  }

  async removeContainer(id: string): Promise<void> {
    await this.#call(`remove container ${id}`, () => this.#docker.getContainer(id).remove({ force: true, abortSignal: this.#writeDeadline() }));
    this.#log.debug({ container: id }, 'removed container');
  }

  async events(signal: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
    const stream = (await this.#call('subscribe to engine events', () =>
      this.#docker.getEvents({ filters: { type: ['container', 'image'] } }),
    )) as Readable;
    const close = () => stream.destroy();
    if (signal.aborted) close();
    else signal.addEventListener('abort', close, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', close));
    this.#log.debug('subscribed to engine events');
    return engineEvents(stream, (line) => this.#log.warn({ line: line.slice(0, 200) }, 'skipped a malformed engine event'));
  }

  /** The engine answers 304 when a container is already in the asked state: that is success. */
  async #tolerating304(doing: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (error) {
      if (engineStatusCode(error) !== 304) throw toBerthError(error, doing, this.#redact);
    }
  }

  async #call<T>(doing: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw toBerthError(error, doing, this.#redact);
    }
  }
}

function fromSummary(summary: Dockerode.ContainerInfo): ContainerSummary {
  return {
    id: summary.Id,
    name: (summary.Names[0] ?? '').replace(/^\//, ''),
    state: summary.State as EngineContainerState,
    labels: summary.Labels ?? {},
  };
}

const neverStarted = '0001-01-01T00:00:00Z';

function fromInspect(details: Dockerode.ContainerInspectInfo): ContainerDetails {
  const { State: state } = details;
  const ran = state.StartedAt && state.StartedAt !== neverStarted;
  return {
    id: details.Id,
    name: details.Name.replace(/^\//, ''),
    state: state.Status as EngineContainerState,
    labels: details.Config.Labels ?? {},
    image: details.Config.Image,
    startedAt: ran ? new Date(state.StartedAt) : undefined,
    exitCode: ran && !state.Running ? state.ExitCode : undefined,
  };
}
