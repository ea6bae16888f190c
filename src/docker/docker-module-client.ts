import { Mutex } from 'async-mutex';
import type { Logger } from 'pino';
import type { BerthConfig, ModuleSpec } from '../config/module-spec.ts';
import { BerthError } from '../errors.ts';
import { containerCreateOptions, isOwnedBy, labelKeys, moduleLabels, ownershipLabels, specDigest } from './container-spec.ts';
import type { ContainerDetails, DockerClient } from './docker-client.ts';
import { engineStatusCode } from './engine-error.ts';
import { moduleStatus, type ContainerStatus } from './module-status.ts';

export interface ModuleState {
  spec: ModuleSpec;
  status: ContainerStatus;
  containerId: string | undefined;
  startedAt: Date | undefined;
  exitCode: number | undefined;
}

export interface DockerModuleClientOptions {
  docker: DockerClient;
  config: BerthConfig;
  logger: Logger;
}

export const maxStopTimeoutSeconds = 3600;

/** berth's modules on one engine: their status, and start and stop, one operation per module at a time. */
export class DockerModuleClient {
  readonly #docker: DockerClient;
  readonly #project: string;
  readonly #modules: ReadonlyMap<string, ModuleSpec>;
  readonly #locks: ReadonlyMap<string, Mutex>;
  readonly #log: Logger;

  constructor({ docker, config, logger }: DockerModuleClientOptions) {
    this.#docker = docker;
    this.#project = config.project;
    this.#modules = new Map(config.modules.map((module) => [module.name, module]));
    this.#locks = new Map(config.modules.map((module) => [module.name, new Mutex()]));
    this.#log = logger;
  }

  async list(status?: ContainerStatus): Promise<ModuleState[]> {
    const owned = await this.#docker.listContainers(ownershipLabels(this.#project));
    const states = await Promise.all(
      [...this.#modules.values()].map(async (spec) => {
        const summary = owned.find((container) => container.labels[labelKeys.module] === spec.name);
        const details = summary && (await this.#docker.inspectContainer(summary.id));
        return this.#observed(spec, details);
      }),
    );
    return status ? states.filter((state) => state.status === status) : states;
  }

  async get(name: string): Promise<ModuleState> {
    const spec = this.#spec(name);
    return this.#observed(spec, await this.#ownedContainer(spec));
  }

  async start(name: string): Promise<ModuleState> {
    const spec = this.#spec(name);
    return this.#exclusive(spec, async () => {
      let container = await this.#ownedContainer(spec);
      if (container && container.state !== 'running' && container.labels[labelKeys.spec] !== specDigest(spec)) {
        this.#log.info({ module: spec.name, container: container.id }, 'docker.yaml changed since the container was created: recreating it');
        await this.#docker.removeContainer(container.id);
        container = undefined;
      }
      const id = container?.id ?? (await this.#create(spec));
      await this.#docker.startContainer(id);
      this.#log.info({ module: spec.name, container: id }, 'module started');
      return this.#stateOf(spec, await this.#docker.inspectContainer(id));
    });
  }

  async stop(name: string, timeoutSeconds: number): Promise<ModuleState> {
    const spec = this.#spec(name);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0 || timeoutSeconds > maxStopTimeoutSeconds) {
      throw new BerthError('BAD_USER_INPUT', `timeoutSeconds must be a whole number from 0 to ${maxStopTimeoutSeconds}, got ${timeoutSeconds}`);
    }
    return this.#exclusive(spec, async () => {
      const container = await this.#ownedContainer(spec);
      if (!container) {
        await this.#refuseForeignContainer(spec);
        return this.#stateOf(spec, undefined);
      }
      await this.#docker.stopContainer(container.id, timeoutSeconds);
      this.#log.info({ module: spec.name, container: container.id }, 'module stopped');
      return this.#stateOf(spec, await this.#docker.inspectContainer(container.id));
    });
  }

  #spec(name: string): ModuleSpec {
    const spec = this.#modules.get(name);
    if (!spec) throw new BerthError('MODULE_NOT_FOUND', `no module named "${name}" in docker.yaml`);
    return spec;
  }

  async #exclusive<T>(spec: ModuleSpec, work: () => Promise<T>): Promise<T> {
    return this.#locks.get(spec.name)!.runExclusive(work);
  }

  /** As seen from outside a start or stop, which shows as HANDLING while it is under way. */
  async #observed(spec: ModuleSpec, container: ContainerDetails | undefined): Promise<ModuleState> {
    const state = await this.#stateOf(spec, container);
    return this.#locks.get(spec.name)!.isLocked() ? { ...state, status: 'HANDLING' } : state;
  }

  async #stateOf(spec: ModuleSpec, container: ContainerDetails | undefined): Promise<ModuleState> {
    const imagePresent = container !== undefined || (await this.#docker.hasImage(spec.image));
    const status = moduleStatus(imagePresent, container?.state);
    return { spec, status, containerId: container?.id, startedAt: container?.startedAt, exitCode: container?.exitCode };
  }

  async #ownedContainer(spec: ModuleSpec): Promise<ContainerDetails | undefined> {
    const candidates = await this.#docker.listContainers(moduleLabels(this.#project, spec));
    const chosen = candidates.find((container) => container.name === spec.containerName) ?? candidates[0];
    return chosen && this.#docker.inspectContainer(chosen.id);
  }

  async #refuseForeignContainer(spec: ModuleSpec): Promise<void> {
    const holder = await this.#docker.inspectContainer(spec.containerName);
    if (holder && !isOwnedBy(holder.labels, this.#project, spec)) {
      throw new BerthError(
        'NAME_CONFLICT',
        `container name "${spec.containerName}" of module "${spec.name}" is taken by container ${holder.id.slice(0, 12)}, which berth (project "${this.#project}") does not manage; berth leaves it alone: remove or rename it to let berth create the module's container`,
      );
    }
  }

  async #create(spec: ModuleSpec): Promise<string> {
    await this.#refuseForeignContainer(spec);
    if (!(await this.#docker.hasImage(spec.image))) throw imageNotLoaded(spec);
    try {
      return await this.#docker.createContainer(containerCreateOptions(this.#project, spec));
    } catch (error) {
      const cause = error instanceof BerthError ? error.cause : error;
      if (engineStatusCode(cause) === 409) await this.#refuseForeignContainer(spec);
      if (engineStatusCode(cause) === 404) throw imageNotLoaded(spec);
      throw error;
    }
  }
}

function imageNotLoaded(spec: ModuleSpec): BerthError {
  return new BerthError(
    'IMAGE_NOT_LOADED',
    `image "${spec.image}" of module "${spec.name}" is not on the engine; berth never pulls silently: load or pull it first`,
  );
}
