import type { ModuleSpec } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import type { ContainerDetails, ContainerSummary, ImageSummary } from '../engine/engine-types.ts';
import { familiarReference } from '../engine/image-reference.ts';
import { labelKeys, moduleContainer, moduleLabels, ownershipLabels } from './container-spec.ts';
import type { ModuleStore, Observation } from './module-store.ts';

/** Reads the engine for the store: every read comes back as observations, marked with when it began. */
export class ModuleReader {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #project: string;

  constructor({ docker, store, project }: { docker: DockerClient; store: ModuleStore; project: string }) {
    this.#docker = docker;
    this.#store = store;
    this.#project = project;
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
    const since = this.#store.mark();
    const [owned, images] = await Promise.all([this.#docker.containers.list(ownershipLabels(this.#project)), this.#docker.images.list()]);
    const unread: string[] = [];
    const containers = await Promise.all(
      [...this.#store.specs].map(async (spec): Promise<Observation | undefined> => {
        const chosen = moduleContainer(spec, owned.filter((container) => container.labels[labelKeys.module] === spec.name));
        const known = this.#store.container(spec.name);
        try {
          const container = chosen && (!full && agrees(known, chosen) ? known : await this.#docker.containers.inspect(chosen.id));
          return { type: 'container', module: spec.name, container, since };
        } catch {
          unread.push(spec.name);
          return undefined;
        }
      }),
    );
    return { observations: [...containers.filter((observation) => observation !== undefined), ...(await this.#imagesFrom(images, since))], unread };
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

/** The list tells a running container's health only: a stopped one's is the engine's last word, which inspect gives. */
function agrees(known: ContainerDetails | undefined, listed: ContainerSummary): known is ContainerDetails {
  const sameHealth = listed.state !== 'running' || known?.health === listed.health;
  return known !== undefined && known.id === listed.id && known.state === listed.state && known.name === listed.name && sameHealth;
}
