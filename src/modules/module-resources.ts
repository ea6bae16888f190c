import type { Logger } from 'pino';
import type { ModuleSpec } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import { engineMessage, engineStatusCode } from '../engine/engine-error.ts';
import type { EngineNetwork, EngineResource } from '../engine/engine-types.ts';
import { BerthError } from '../errors.ts';
import { pause } from '../lib/timing.ts';
import { labelKeys, ownershipLabels } from './container-spec.ts';

/** A network made before its engine had Swarm modules: their services cannot join it, and berth does not remove it. */
function bridgeForSwarm({ name, driver }: EngineNetwork): BerthError {
  return new BerthError(
    'ENGINE_ERROR',
    `network ${name} is a ${driver} network, which the Swarm services of this engine cannot join: remove it once no container uses it (docker network rm ${name}), and berth makes it again as an attachable overlay network`,
  );
}

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
  /** Whether networks are made as Swarm overlay ones: on a Swarm manager with Swarm modules, whose services join them. */
  readonly #overlay: () => boolean;
  /** Networks being looked up or made, by name: modules started at once share one creation. */
  readonly #pending = new Map<string, Promise<EngineNetwork>>();
  /** The engine's API version as the store has it from the watcher's sync; undefined before that. */
  readonly #apiVersion: () => string | undefined;

  constructor({ docker, project, logger, overlay = () => false, apiVersion = () => undefined }: { docker: DockerClient; project: string; logger: Logger; overlay?: () => boolean; apiVersion?: () => string | undefined }) {
    this.#overlay = overlay;
    this.#apiVersion = apiVersion;
    this.#docker = docker;
    this.#project = project;
    this.#log = logger;
  }

  /**
   * Before the container is created: every network it joins and every named volume it mounts is there.
   * Answers the ids of its networks, in the order of spec.networks.
   */
  async prepare(spec: ModuleSpec): Promise<string[]> {
    const volumes = [...new Set(spec.volumes.filter((volume) => volume.type === 'volume').map((volume) => volume.source))];
    const [networks] = await Promise.all([Promise.all(spec.networks.map((name) => this.#network(name))), Promise.all(volumes.map((name) => this.#volume(name)))]);
    // A container joins any network; a Swarm service not a bridge one (a list may leave a swarm network's driver out).
    const bridged = spec.deploy && networks.find((network) => network.driver === 'bridge');
    if (bridged) throw bridgeForSwarm(bridged);
    return networks.map((network) => network.id);
  }

  /** After the container is created, before it starts: the networks past the first, which the create could not join. */
  async join(spec: ModuleSpec, container: string, networks: readonly string[]): Promise<void> {
    for (const network of networks.slice(1)) await this.#docker.networks.connect(network, container, [spec.name]);
  }

  #network(name: string): Promise<EngineNetwork> {
    let pending = this.#pending.get(name);
    if (!pending) {
      pending = this.#ensureNetwork(name).finally(() => this.#pending.delete(name));
      this.#pending.set(name, pending);
    }
    return pending;
  }

  /**
   * Two berths on one engine may both make the network at the same moment, and an engine before API 1.44
   * keeps both, after which the name is ambiguous and containers on it cannot start. Both berths then
   * settle on one: the one a container already uses, else the oldest; the empty others of the project
   * are removed (berth's only removal of a network: one it made twice, that nothing uses).
   */
  async #ensureNetwork(name: string): Promise<EngineNetwork> {
    for (let attempt = 1; ; attempt++) {
      const found = await this.#docker.networks.named(name);
      if (found.length === 1) {
        this.#warnIfForeign('network', found[0]!);
        return found[0]!;
      }
      if (found.length === 0) {
        const overlay = this.#overlay();
        const made = await this.#docker.networks.create(name, ownershipLabels(this.#project), { overlay });
        this.#log.info({ network: name, overlay }, 'created network');
        // Another berth's network of the same name, made at the same moment, may not be listed yet: each berth would
        // see only its own and start its containers on it. A moment later both are listed, and both berths settle on one.
        if (made && this.#engineRacesOnNames()) await pause(createdSettleMs);
        continue;
      }
      if (attempt > duplicateSettleAttempts) {
        throw new BerthError('ENGINE_ERROR', `${found.length} networks are named ${name} and containers use more than one, or berth did not make them: remove all but one`);
      }
      await this.#removeDuplicates(found);
      await pause(50 * attempt);
    }
  }

  /** Whether the engine makes a network without checking its name in the same step: before API 1.44, or not known yet. */
  #engineRacesOnNames(): boolean {
    const [major = 0, minor = 0] = (this.#apiVersion() ?? '').split('.').map(Number);
    return major < 1 || (major === 1 && minor < 44);
  }

  async #removeDuplicates(networks: readonly EngineNetwork[]): Promise<void> {
    const counted = await Promise.all(networks.map(async (network) => ({ ...network, users: await this.#docker.networks.users(network.id) })));
    const used = counted.filter((network) => network.users > 0);
    if (used.length > 1) return;
    const [keep] = used.length === 1 ? used : [...counted].sort((a, b) => a.created.getTime() - b.created.getTime() || a.id.localeCompare(b.id));
    const removable = counted.filter((network) => network !== keep && network.users === 0 && network.labels[labelKeys.project] === this.#project);
    for (const network of removable) {
      if (await this.#docker.networks.remove(network.id)) this.#log.info({ network: network.name, id: network.id }, 'removed a second network of the same name, made at the same moment by another berth');
    }
  }

  async #volume(name: string): Promise<void> {
    const found = await this.#docker.volumes.inspect(name);
    if (found) return this.#warnIfForeign('volume', found);
    // The engine answers success when the volume is there already: no race to settle.
    await this.#docker.volumes.create(name, ownershipLabels(this.#project));
    this.#log.info({ volume: name }, 'created volume');
  }

  #warnIfForeign(kind: string, { name, labels }: EngineResource): void {
    if (labels[labelKeys.project] !== this.#project) this.#log.warn({ [kind]: name }, `using the ${kind} ${name}, which berth did not make for project ${this.#project}`);
  }
}

/** How many times a network name held by several networks is settled before giving up. */
const duplicateSettleAttempts = 5;

/** How long after making a network it is looked up again, on an engine that may have made another of its name meanwhile. */
const createdSettleMs = 250;

/** A network name held by several networks: the engine cannot start a container that names it. */
export function isAmbiguousNetwork(error: unknown): boolean {
  return /network .* is ambiguous/.test(messageOf(error));
}

/** The container's network was removed (a `docker network prune` while the project was stopped). */
export function isMissingNetwork(error: unknown): boolean {
  return engineStatusCode(error) === 404 && /network \S+ not found/.test(messageOf(error));
}

function messageOf(error: unknown): string {
  return engineMessage(error instanceof BerthError ? error.cause : error);
}

/**
 * The engine refuses a bind mount whose source is missing (berth asks for Mounts, not Binds, so that no
 * empty folder is made in its place): the error names the module, the entry and the path.
 */
export function bindSourceMissing(spec: ModuleSpec, error: unknown): BerthError | undefined {
  if (![400, 500].includes(engineStatusCode(error) ?? 0)) return undefined;
  const message = messageOf(error);
  const volume = spec.volumes.find((candidate) => candidate.type === 'bind' && message.includes(`bind source path does not exist: ${candidate.source}`));
  if (!volume) return undefined;
  return new BerthError(
    'BIND_SOURCE_MISSING',
    `module "${spec.name}", volume "${volume.entry}": the bind source ${volume.source} does not exist on the engine's host; berth does not create it: create it there, or correct the path in docker.yaml`,
  );
}
