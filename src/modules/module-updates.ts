import type { Logger } from 'pino';
import type { ModuleSpec } from '../config/module-spec.ts';
import type { DockerClient } from '../engine/docker-client.ts';
import type { Redact } from '../engine/engine-error.ts';
import type { ContainerDetails } from '../engine/engine-types.ts';
import { BerthError } from '../errors.ts';
import { labelKeys, moduleLabels, ownershipLabels } from './container-spec.ts';
import type { ModuleReader } from './module-reader.ts';
import type { ModuleStore } from './module-store.ts';
import { untilModule } from './module-waits.ts';

/** What an update borrows from the module client: the steps a start takes, with their checks and retries. */
export interface ContainerSteps {
  /** The module's container as the engine holds it now, if berth owns one. */
  owned(spec: ModuleSpec): Promise<ContainerDetails | undefined>;
  /** Creates the module's container from its spec (image, networks, volumes, name checked); answers its id. */
  create(spec: ModuleSpec): Promise<string>;
  /** Starts it; answers the id of the container started (a new one when a network had to be made again). */
  start(spec: ModuleSpec, id: string): Promise<string>;
  /** Removes it; gone already is done. */
  remove(id: string): Promise<void>;
}

export interface ModuleUpdatesOptions {
  docker: DockerClient;
  store: ModuleStore;
  reader: ModuleReader;
  project: string;
  steps: ContainerSteps;
  logger: Logger;
  /** How long a new container has to run, and be healthy when it has a healthcheck, before it is rolled back. Default 60 s. */
  timeoutMs?: number;
  /** Scrubs secrets from what a failed container said (its log, its healthcheck output); default none. */
  redact?: Redact;
}

/**
 * The old container's name while it waits aside: it ran when the update began (a rollback starts it again),
 * or it did not. The name says which, so that a berth that stopped mid-update restores it as it was.
 */
const aside = { running: '-berth-previous', stopped: '-berth-previous-stopped' } as const;
const asideName = /^(.+?)(-berth-previous(-stopped)?)$/;

/** The longest output of a failed healthcheck or log quoted in a rollback's reason. */
const reasonOutputChars = 500;

/**
 * applyModule's work, run under the module's lock: the new container is made from the current spec while the
 * old one waits aside (renamed, stopped once the new one exists, so that no host port is held twice), and the
 * old one is removed only once the new one runs and, with a healthcheck, is healthy. Otherwise the new one is
 * removed and the old one restored under its name, running again if it ran: UPDATE_ROLLED_BACK.
 */
export class ModuleUpdates {
  readonly #docker: DockerClient;
  readonly #store: ModuleStore;
  readonly #reader: ModuleReader;
  readonly #project: string;
  readonly #steps: ContainerSteps;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #redact: Redact;

  constructor({ docker, store, reader, project, steps, logger, timeoutMs = 60_000, redact = (text) => text }: ModuleUpdatesOptions) {
    this.#docker = docker;
    this.#store = store;
    this.#reader = reader;
    this.#project = project;
    this.#steps = steps;
    this.#log = logger;
    this.#timeoutMs = timeoutMs;
    this.#redact = redact;
  }

  /**
   * Recreates the module's container from its spec, leaving it running or not as the old one was; answers
   * the id of the container the module is left with (none when it had none). `stopSeconds`: how long the old
   * one gets to stop before it is killed.
   */
  async apply(spec: ModuleSpec, stopSeconds: number): Promise<string | undefined> {
    const old = await this.#steps.owned(spec);
    if (!old) return undefined;
    const running = old.state === 'running' || old.state === 'restarting' || old.state === 'paused';
    await this.#docker.containers.rename(old.id, `${old.name}${running ? aside.running : aside.stopped}`);
    let fresh: string | undefined;
    let updated = false;
    // Whatever stops the update half-way (a failed start, the engine gone), the old container is restored.
    try {
      fresh = await this.#steps.create(spec);
      if (running) {
        await this.#docker.containers.stop(old.id, stopSeconds);
        const started = await this.#startAndWait(spec, fresh);
        fresh = started.id;
        if (started.failure) throw new BerthError('UPDATE_ROLLED_BACK', `module "${spec.name}" was rolled back to its previous container: the new one ${started.failure}`);
      }
      await this.#steps.remove(old.id);
      updated = true;
    } finally {
      if (!updated) await this.#rollBack(spec);
    }
    this.#log.info({ module: spec.name, container: fresh, previous: old.id }, 'module updated');
    return fresh;
  }

  /**
   * The new container started and watched until it runs (and is healthy, with a healthcheck); answers the id of
   * the container started and, when it failed, why.
   */
  async #startAndWait(spec: ModuleSpec, created: string): Promise<{ id: string; failure?: string }> {
    let id = created;
    try {
      id = await this.#steps.start(spec, created);
      this.#store.observe(await this.#reader.containerById(spec, id));
      await this.#until(spec, id);
      return { id };
    } catch (error) {
      if (error instanceof BerthError && error.code === 'ENGINE_UNAVAILABLE') throw error;
      const reason = error instanceof Error ? error.message : String(error);
      return { id, failure: `${reason}${await this.#lastWords(id)}` };
    }
  }

  #until(spec: ModuleSpec, id: string): Promise<void> {
    const seconds = Math.round(this.#timeoutMs / 1000);
    const late = () => {
      const container = this.#store.container(spec.name);
      const health = container?.id === id && container.health ? `, health ${container.health}` : '';
      return new Error(`was not ${container?.healthcheck ? 'healthy' : 'running'} within ${seconds} s (BERTH_UPDATE_TIMEOUT_SECONDS)${health}`);
    };
    return untilModule(this.#store, spec.name, this.#timeoutMs, () => {
      const container = this.#store.container(spec.name);
      if (container?.id !== id) return false;
      if (container.state === 'exited' || container.state === 'dead') throw new Error(`exited with code ${container.exitCode ?? 'unknown'}`);
      if (container.health === 'unhealthy' && container.state === 'running') throw new Error('is unhealthy: its healthcheck failed');
      return container.state === 'running' && (!container.healthcheck || container.health === 'healthy');
    }, late);
  }

  /** The failed container's last healthcheck output, or else the last lines of its log, for the reason. */
  async #lastWords(id: string): Promise<string> {
    try {
      const details = await this.#docker.containers.inspect(id);
      const health = details?.healthOutput?.trim();
      if (health) return `; last healthcheck output: ${this.#quote(health)}`;
      const lines = details ? (await this.#docker.logs.read(id, { tty: details.tty ?? false, tail: 5 })).lines : [];
      return lines.length > 0 ? `; last log lines: ${this.#quote(lines.map((line) => line.text).join('\n'))}` : '';
    } catch (error) {
      this.#log.warn({ err: error, container: id }, 'could not read why a new container failed');
      return '';
    }
  }

  /** recover() at once; one that fails (the engine gone) leaves the old container aside for the next sync's. */
  /** A container's own words in a reason (an error message and an audit line): secrets scrubbed, the tail kept. */
  #quote(output: string): string {
    const text = this.#redact(output);
    return JSON.stringify(text.length > reasonOutputChars ? `…${text.slice(-reasonOutputChars)}` : text);
  }

  async #rollBack(spec: ModuleSpec): Promise<void> {
    this.#log.warn({ module: spec.name }, 'rolling back an update');
    await this.recover(spec).catch((error: Error) => this.#log.warn({ module: spec.name, err: error }, 'could not roll back an update yet: berth tries again at the next sync'));
  }

  /**
   * The containers left aside by updates that did not finish (berth stopped, or the engine went mid-update and
   * the rollback could not run), by module name: declared modules' and those of modules docker.yaml no longer has.
   */
  async interrupted(): Promise<Map<string, string[]>> {
    const left = new Map<string, string[]>();
    for (const container of await this.#docker.containers.list(ownershipLabels(this.#project))) {
      const module = container.labels[labelKeys.module];
      if (module && asideName.test(container.name)) left.set(module, [...(left.get(module) ?? []), container.id]);
    }
    return left;
  }

  /**
   * Undoes an update left unfinished: every other container of the module (the new one, under its name or a
   * new kind's) is removed, and the old one takes its name back, running again if it ran. Answers the id of
   * the container restored.
   */
  async recover(spec: ModuleSpec): Promise<string | undefined> {
    const containers = await this.#docker.containers.list(moduleLabels(this.#project, spec));
    const left = containers.find((container) => asideName.test(container.name));
    const [, name = '', suffix] = (left && asideName.exec(left.name)) ?? [];
    if (!left) return undefined;
    const others = containers.filter((container) => container.id !== left.id);
    for (const other of others) await this.#steps.remove(other.id);
    await this.#docker.containers.rename(left.id, name);
    if (suffix === aside.running) await this.#docker.containers.start(left.id);
    this.#log.warn({ module: spec.name, container: left.id, removed: others.map((other) => other.id) }, 'restored the container an unfinished update left aside');
    return left.id;
  }
}
