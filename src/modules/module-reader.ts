import pMap from 'p-map';
import type { ModuleSpec } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import type { ContainerDetails, ContainerSummary, ImageSummary, NodeDetails, ServiceDetails, TaskDetails } from '../engine/engine-types.ts';
import { familiarReference } from '../engine/image-reference.ts';
import { labelKeys, moduleContainer, moduleLabels, ownershipLabels } from './container-spec.ts';
import type { ModuleStore, Observation } from './module-store.ts';
import { isSwarmModule } from './service-spec.ts';

/** What one read of the project's Swarm services found: its services, all their tasks, the swarm's nodes. */
interface SwarmRead {
  services: ServiceDetails[];
  tasks: TaskDetails[];
  nodes: NodeDetails[];
}

const noSwarm: SwarmRead = { services: [], tasks: [], nodes: [] };

/**
 * Inspects a resync keeps under way at once. All of a thousand modules' at once took longer than 32 at a time
 * (bench l): each opened a connection, and the answers held together kept the collector busy.
 */
export const inspectsAtOnce = 32;

/** Reads the engine for the store: every read comes back as observations, marked with when it began. */
export class ModuleReader {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #project: string;
  /** Whether the engine is a Swarm manager, asked at each full resync when docker.yaml has Swarm modules for it. */
  #manager = false;

  constructor({ docker, store, project }: { docker: DockerClient; store: ModuleStore; project: string }) {
    this.#docker = docker;
    this.#store = store;
    this.#project = project;
  }

  /** Whether the engine is a Swarm manager, as the last full resync (or this call) found it. */
  get manager(): boolean {
    return this.#manager;
  }

  /** Asks the engine whether it is a Swarm manager (GET /info), for the reads and operations from now on. */
  async checkManager(): Promise<boolean> {
    this.#manager = (await this.#docker.system.swarm())?.manager === true;
    return this.#manager;
  }

  /** The module as it runs: its container, or a Swarm module's service. */
  module(spec: ModuleSpec): Promise<Observation & { type: 'container' | 'service' }> {
    return isSwarmModule(spec) ? this.service(spec) : this.container(spec);
  }

  /**
   * A Swarm module's service (by its labels: one of its name without them is not berth's), its tasks and the
   * swarm's nodes, read at once. On an engine that is no manager: no service, which is what it has.
   */
  async service(spec: ModuleSpec): Promise<Observation & { type: 'service' }> {
    const since = this.#store.mark();
    const { services, tasks, nodes } = this.#manager ? await this.#swarm(moduleLabels(this.#project, spec)) : noSwarm;
    return serviceObservation(spec, { services, tasks, nodes }, since);
  }

  /** Every task of the project's services, in one call: the poll that keeps Swarm modules live. */
  async tasks(): Promise<Observation & { type: 'tasks' }> {
    const since = this.#store.mark();
    return { type: 'tasks', tasks: await this.#docker.services.tasks({ labels: ownershipLabels(this.#project) }), since };
  }

  #swarm(labels: Record<string, string>): Promise<SwarmRead> {
    const { services } = this.#docker;
    return Promise.all([services.list(labels), services.tasks({ labels }), services.nodes()]).then(([listed, tasks, nodes]) => ({ services: listed, tasks, nodes }));
  }

  /** The module's container: one list by its labels, one inspect. */
  async container(spec: ModuleSpec): Promise<Observation & { type: 'container' }> {
    const since = this.#store.mark();
    const chosen = moduleContainer(spec, await this.#docker.containers.list(moduleLabels(this.#project, spec)));
    const container = chosen && (await this.#docker.containers.inspect(chosen.id));
    return { type: 'container', module: spec.name, container, since };
  }

  /** A container an operation just acted on, by id. */
  async containerById(spec: ModuleSpec, id: string): Promise<Observation & { type: 'container' }> {
    const since = this.#store.mark();
    const container = await this.#docker.containers.inspect(id);
    return container ? { type: 'container', module: spec.name, container, since } : this.container(spec);
  }

  async image(reference: string): Promise<Observation & { type: 'image' }> {
    const since = this.#store.mark();
    return { type: 'image', reference, image: await this.#docker.images.inspect(reference), since };
  }

  /**
   * Everything berth follows, with one list of the project's containers and one of the images (the
   * engine's reachability is the watcher's to tell). `full` inspects every module's container (after a
   * reconnect: anything may have happened); otherwise only those where the list disagrees with the
   * store, the periodic check for missed events. A module whose inspect fails keeps what the store knew
   * and is named in `unread`; only a failed list fails the whole.
   */
  async everything({ full }: { full: boolean }): Promise<{ observations: Observation[]; unread: string[] }> {
    // Whether the engine is a manager is the watcher's to ask (checkManager), before it follows the engine.
    const swarmSpecs = [...this.#store.specs].filter(isSwarmModule);
    const since = this.#store.mark();
    const [owned, images, swarm] = await Promise.all([
      this.#docker.containers.list(ownershipLabels(this.#project)),
      this.#docker.images.list(),
      swarmSpecs.length > 0 && this.#manager ? this.#swarm(ownershipLabels(this.#project)) : noSwarm,
    ]);
    const unread: string[] = [];
    const services = swarmSpecs.map((spec) => serviceObservation(spec, swarm, since));
    const byModule = Map.groupBy(owned, (container) => container.labels[labelKeys.module]);
    const specs = [...this.#store.specs].filter((spec) => !isSwarmModule(spec));
    const read = async (spec: ModuleSpec): Promise<Observation | undefined> => {
      const chosen = moduleContainer(spec, byModule.get(spec.name) ?? []);
      const known = this.#store.container(spec.name);
      try {
        const container = chosen && (!full && agrees(known, chosen) ? known : await this.#docker.containers.inspect(chosen.id));
        return { type: 'container', module: spec.name, container, since };
      } catch {
        unread.push(spec.name);
        return undefined;
      }
    };
    const containers = await pMap(specs, read, { concurrency: inspectsAtOnce });
    return { observations: [...containers.filter((observation) => observation !== undefined), ...services, ...(await this.#imagesFrom(images, since))], unread };
  }

  /**
   * A declared reference the list does not show is asked of the engine, whose own resolution of short
   * names decides: Podman keeps a loaded `app:1` as `localhost/app:1`, and finds it under `app:1`.
   */
  #imagesFrom(images: readonly ImageSummary[], since: number): Promise<Observation[]> {
    const byReference = new Map(images.flatMap((image) => image.references.map((reference) => [familiarReference(reference), image] as const)));
    return Promise.all(
      this.#store.references.map(async (reference): Promise<Observation> => {
        const listed = byReference.get(familiarReference(reference));
        const image = listed ? { id: listed.id } : await this.#docker.images.inspect(reference);
        return { type: 'image', reference, image, since };
      }),
    );
  }
}

/** A Swarm module's service among those read (its own name first, as its container would be) with its tasks. */
function serviceObservation(spec: ModuleSpec, { services, tasks, nodes }: SwarmRead, since: number): Observation & { type: 'service' } {
  const service = moduleContainer(spec, services.filter((candidate) => candidate.labels[labelKeys.module] === spec.name));
  return { type: 'service', module: spec.name, service, tasks: service ? tasks.filter((task) => task.serviceId === service.id) : [], nodes, since };
}

/** The list tells a running container's health only: a stopped one's is the engine's last word, which inspect gives. */
function agrees(known: ContainerDetails | undefined, listed: ContainerSummary): known is ContainerDetails {
  const sameHealth = listed.state !== 'running' || known?.health === listed.health;
  return known !== undefined && known.id === listed.id && known.state === listed.state && known.name === listed.name && sameHealth;
}
