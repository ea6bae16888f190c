import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import type { ServiceDetails, ServiceUpdateState } from '../engine/engine-types.ts';
import type { ServiceSpec } from '../engine/service-client.ts';
import { BerthError } from '../errors.ts';
import { pause } from '../lib/timing.ts';
import { isOwnedBy } from './container-spec.ts';
import { moduleDrift } from './module-drift.ts';
import type { ModuleReader } from './module-reader.ts';
import type { ModuleStore } from './module-store.ts';
import { serviceSpec, type SwarmModuleSpec } from './service-spec.ts';
import { serviceStatus } from './service-status.ts';

export interface SwarmModulesOptions {
  docker: DockerClient;
  store: ModuleStore;
  reader: ModuleReader;
  project: string;
  logger: Logger;
  /** The module's networks, made if missing (overlay ones on a manager); answers their ids. */
  prepare: (spec: SwarmModuleSpec) => Promise<string[]>;
  /** The engine as messages name it. */
  engineName: string;
  /** How long an operation waits for its service to settle before it answers the status as it is. */
  settleTimeoutMs: number;
}

/** What an operation waits for: the replicas it asked for, or the end of the rolling update it began. */
type Settling = 'scale' | 'update';

/** Update states after which Swarm does nothing more by itself. */
const restingUpdates = new Set<ServiceUpdateState | undefined>(['completed', 'paused', 'rollback_completed', 'rollback_paused']);
/** An update that ended anywhere but on the new spec. */
const undoneUpdates = new Set<ServiceUpdateState | undefined>(['paused', 'rollback_completed', 'rollback_paused']);

/** How often an operation reads its service while it waits for it to settle. */
const settlePollMs = 250;

/**
 * The operations of Swarm modules (docker.yaml's `deploy:`), each a change of the module's service that
 * Swarm carries out: start scales it to its replicas (made first if missing), stop to 0, restart redeploys
 * its tasks, apply updates it through Swarm's rolling update. Each answers once the service settles or the
 * wait's deadline passes; DockerModuleClient runs them under the module's lock and reads the module after.
 */
export class SwarmModules {
  readonly #options: SwarmModulesOptions;

  constructor(options: SwarmModulesOptions) {
    this.#options = options;
  }

  async start(spec: SwarmModuleSpec): Promise<void> {
    const service = await this.#ownedService(spec);
    const { replicas } = spec.deploy;
    if (!service) await this.#create(spec);
    else if (service.replicas !== replicas) await this.#update(spec, service, withReplicas(service.spec, replicas), `scaled to ${replicas}`);
    await this.#settle(spec, 'scale');
  }

  /**
   * Scales to 0. Swarm stops each task within the grace period of its own spec: `timeoutSeconds` is the grace of
   * the tasks started from now on, not of those this stops.
   */
  async stop(spec: SwarmModuleSpec, timeoutSeconds: number): Promise<void> {
    const service = await this.#ownedService(spec);
    if (!service) return;
    const stopping = withStopGrace(withReplicas(service.spec, 0), timeoutSeconds);
    if (service.replicas !== 0) await this.#update(spec, service, stopping, 'scaled to 0');
    await this.#settle(spec, 'scale');
  }

  /** Replaces every task (Swarm's ForceUpdate, at the pace of the update config); a stopped module is started. */
  async restart(spec: SwarmModuleSpec, timeoutSeconds: number): Promise<void> {
    const service = await this.#ownedService(spec);
    if (!service || service.replicas === 0) return this.start(spec);
    const template = service.spec.TaskTemplate ?? {};
    const forced = withStopGrace({ ...service.spec, TaskTemplate: { ...template, ForceUpdate: (template.ForceUpdate ?? 0) + 1 } }, timeoutSeconds);
    await this.#update(spec, service, forced, 'redeployed');
    await this.#settle(spec, 'update');
  }

  /**
   * docker.yaml's spec for the service when it drifted, running or stopped as it was, rolled out by
   * Swarm; an update that Swarm rolled back (or paused) is UPDATE_ROLLED_BACK with Swarm's reason.
   */
  async apply(spec: SwarmModuleSpec, timeoutSeconds: number): Promise<void> {
    const service = await this.#ownedService(spec);
    // Nothing to apply (as for a container): an update that changes no task ends in no UpdateStatus to wait for,
    // and one that changes only the stop grace would redeploy every task.
    if (!service || moduleDrift(spec, service, undefined).length === 0) return;
    const replicas = service.replicas === 0 ? 0 : spec.deploy.replicas;
    const next = serviceSpec(this.#options.project, spec, replicas, await this.#options.prepare(spec));
    await this.#update(spec, service, withStopGrace(next, timeoutSeconds), 'updated from docker.yaml');
    // A stopped service has no task to roll: its update ends at once.
    const settled = await this.#settle(spec, service.replicas === 0 ? 'scale' : 'update');
    if (undoneUpdates.has(settled?.update?.state)) {
      const reason = settled?.update?.message ?? `the update ended ${settled?.update?.state}`;
      throw new BerthError('UPDATE_ROLLED_BACK', `module "${spec.name}" was rolled back by Swarm: ${reason}`);
    }
  }

  /** A module a reload removed: its service and tasks go (Swarm stops them); nothing on an engine that is no manager. */
  async remove(spec: SwarmModuleSpec): Promise<void> {
    if (!this.#options.reader.manager) return;
    const service = await this.#ownedService(spec);
    if (service && (await this.#options.docker.services.remove(service.id))) this.#options.logger.info({ module: spec.name, service: service.id }, 'removed the Swarm service of a module no longer in docker.yaml');
  }

  /** The module's service, berth's; one of its name that berth does not own is NAME_CONFLICT. */
  async #ownedService(spec: SwarmModuleSpec): Promise<ServiceDetails | undefined> {
    await this.#requireManager(spec);
    const { docker, project } = this.#options;
    const service = await docker.services.inspect(spec.containerName);
    if (service && !isOwnedBy(service.labels, project, spec)) {
      throw new BerthError(
        'NAME_CONFLICT',
        `service name "${spec.containerName}" of module "${spec.name}" is taken by Swarm service ${service.id.slice(0, 12)}, which berth (project "${project}") does not manage; berth leaves it alone: remove or rename it to let berth create the module's service`,
      );
    }
    return service;
  }

  async #requireManager(spec: SwarmModuleSpec): Promise<void> {
    if (this.#options.reader.manager || (await this.#options.reader.checkManager())) return;
    const { engineName } = this.#options;
    throw new BerthError(
      'ENGINE_ERROR',
      `module "${spec.name}" has deploy: and runs as a Swarm service, but ${engineName} is not a Swarm manager; run \`docker swarm init\` on it (or join it to a swarm as a manager), or give the module the engine of a manager, or remove deploy: to run it as a container`,
    );
  }

  /** Made from docker.yaml when its image is on the manager (the nodes get it as Swarm sees fit). */
  async #create(spec: SwarmModuleSpec): Promise<void> {
    const { docker, store, reader, project, logger } = this.#options;
    const image = await reader.image(spec.image);
    store.observe(image);
    if (!image.image) throw new BerthError('IMAGE_NOT_LOADED', `image "${spec.image}" of module "${spec.name}" is not on the Swarm manager; berth never pulls silently: load or pull it first`);
    const id = await docker.services.create(serviceSpec(project, spec, spec.deploy.replicas, await this.#options.prepare(spec)));
    logger.info({ module: spec.name, service: id, replicas: spec.deploy.replicas }, 'created the Swarm service');
  }

  async #update(spec: SwarmModuleSpec, service: ServiceDetails, next: ServiceSpec, what: string): Promise<void> {
    await this.#options.docker.services.update(service.id, service.version, next);
    this.#options.logger.info({ module: spec.name, service: service.id }, `Swarm service ${what}`);
  }

  /**
   * Reads the service until it settles, handing the store each read (its replicas show as they change): a
   * scale once as many tasks run as it wants and nothing moves, an update once Swarm's rollout has ended.
   * Past the deadline it answers what it read last.
   */
  async #settle(spec: SwarmModuleSpec, settling: Settling): Promise<ServiceDetails | undefined> {
    const { store, reader, settleTimeoutMs } = this.#options;
    for (const deadline = Date.now() + settleTimeoutMs; ; await pause(settlePollMs)) {
      const read = await reader.service(spec);
      store.observe(read);
      if (!read.service) return undefined;
      const { status, replicas } = serviceStatus(read.service, read.tasks, read.nodes);
      const settled = settling === 'scale' ? status !== 'HANDLING' && replicas.running === replicas.desired : status !== 'HANDLING' && restingUpdates.has(read.service.update?.state);
      if (settled || Date.now() > deadline) return read.service;
    }
  }
}

function withReplicas(spec: ServiceSpec, replicas: number): ServiceSpec {
  return { ...spec, Mode: { Replicated: { Replicas: replicas } } };
}

/** How long the tasks started from now on get to stop before they are killed: stopModule's, restartModule's and applyModule's timeoutSeconds. */
function withStopGrace(spec: ServiceSpec, timeoutSeconds: number): ServiceSpec {
  // berth's services run containers: their template is a ContainerTaskSpec.
  const template = (spec.TaskTemplate ?? {}) as Dockerode.ContainerTaskSpec;
  return { ...spec, TaskTemplate: { ...template, ContainerSpec: { ...template.ContainerSpec, StopGracePeriod: timeoutSeconds * 1e9 } } };
}
