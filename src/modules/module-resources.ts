import type { Logger } from 'pino';
import type { ModuleSpec } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import { engineMessage, engineStatusCode } from '../engine/engine-error.ts';
import type { EngineResource } from '../engine/engine-types.ts';
import { BerthError } from '../errors.ts';
import { labelKeys, ownershipLabels } from './container-spec.ts';

/**
 * The networks and named volumes a module's container needs. berth makes the missing ones, labelled as
 * the project's, and never removes any: a volume holds data that outlives every container. One of the
 * same name that berth did not make (a compose project of the same name, a restored volume) is used as
 * it is, with a warning.
 */
export class ModuleResources {
  readonly #docker: DockerClient;
  readonly #project: string;
  readonly #log: Logger;

  constructor({ docker, project, logger }: { docker: DockerClient; project: string; logger: Logger }) {
    this.#docker = docker;
    this.#project = project;
    this.#log = logger;
  }

  /** Before the container is created: every network it joins and every named volume it mounts is there. */
  async prepare(spec: ModuleSpec): Promise<void> {
    const volumes = spec.volumes.filter((volume) => volume.type === 'volume').map((volume) => volume.source);
    await Promise.all([
      ...spec.networks.map((name) => this.#ensure('network', name, this.#docker.networks)),
      ...[...new Set(volumes)].map((name) => this.#ensure('volume', name, this.#docker.volumes)),
    ]);
  }

  /** After the container is created, before it starts: the networks past the first, which the create could not join. */
  async join(spec: ModuleSpec, container: string): Promise<void> {
    for (const network of spec.networks.slice(1)) await this.#docker.networks.connect(network, container, [spec.name]);
  }

  async #ensure(kind: string, name: string, resources: { inspect(name: string): Promise<EngineResource | undefined>; create(name: string, labels: Record<string, string>): Promise<void> }): Promise<void> {
    const found = await resources.inspect(name);
    if (!found) {
      await resources.create(name, ownershipLabels(this.#project));
      this.#log.info({ [kind]: name }, `created ${kind}`);
    } else if (found.labels[labelKeys.project] !== this.#project) {
      this.#log.warn({ [kind]: name }, `using the ${kind} ${name}, which berth did not make for project ${this.#project}`);
    }
  }
}

/**
 * The engine refuses a bind mount whose source is missing (berth asks for Mounts, not Binds, so that no
 * empty folder is made in its place): the error names the module, the entry and the path.
 */
export function bindSourceMissing(spec: ModuleSpec, error: unknown): BerthError | undefined {
  if (engineStatusCode(error) !== 400) return undefined;
  const message = engineMessage(error instanceof BerthError ? error.cause : error);
  const volume = spec.volumes.find((candidate) => candidate.type === 'bind' && message.includes(`bind source path does not exist: ${candidate.source}`));
  if (!volume) return undefined;
  return new BerthError(
    'BIND_SOURCE_MISSING',
    `module "${spec.name}", volume "${volume.entry}": the bind source ${volume.source} does not exist on the engine's host; berth does not create it: create it there, or correct the path in docker.yaml`,
  );
}
