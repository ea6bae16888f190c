import type Dockerode from 'dockerode';
import type { EngineRequests } from './engine-requests.ts';
import { containerHealth, type ContainerDetails, type ContainerSummary, type EngineContainerState } from './engine-types.ts';

export type ContainerCreateOptions = Dockerode.ContainerCreateOptions & { name: string };

export interface ContainerClient {
  /** Every container, running or not, that carries all these labels. */
  list(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** undefined when no container has that id or name. */
  inspect(idOrName: string): Promise<ContainerDetails | undefined>;
  create(options: ContainerCreateOptions): Promise<string>;
  /** Succeeds when the container already runs. */
  start(id: string): Promise<void>;
  /** Succeeds when the container is already stopped. */
  stop(id: string, timeoutSeconds: number): Promise<void>;
  unpause(id: string): Promise<void>;
  /** Removes it whatever its state (force). */
  remove(id: string): Promise<void>;
  rename(id: string, name: string): Promise<void>;
}

export class DockerContainerClient implements ContainerClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const label = Object.entries(labels).map(([key, value]) => `${key}=${value}`);
    const { docker, log } = this.#requests;
    const list = await this.#requests.read('list containers', (abortSignal) => docker.listContainers({ all: true, filters: { label }, abortSignal }));
    log.debug({ labels, count: list.length }, 'listed containers');
    return list.map(fromSummary);
  }

  async inspect(idOrName: string): Promise<ContainerDetails | undefined> {
    const { docker, log } = this.#requests;
    const details = await this.#requests.lookup(`inspect container ${idOrName}`, (abortSignal) => docker.getContainer(idOrName).inspect({ abortSignal }));
    log.debug({ container: details?.Id ?? idOrName, state: details?.State.Status ?? 'absent' }, 'inspected container');
    return details && fromInspect(details);
  }

  async create(options: ContainerCreateOptions): Promise<string> {
    const { docker, log } = this.#requests;
    const container = await this.#requests.write(`create container ${options.name}`, (abortSignal) => docker.createContainer({ ...options, abortSignal }));
    log.debug({ container: container.id, name: options.name }, 'created container');
    return container.id;
  }

  async start(id: string): Promise<void> {
    await this.#requests.idempotentWrite(`start container ${id}`, (abortSignal) => this.#requests.docker.getContainer(id).start({ abortSignal }));
    this.#requests.log.debug({ container: id }, 'started container');
  }

  async stop(id: string, timeoutSeconds: number): Promise<void> {
    await this.#requests.idempotentWrite(
      `stop container ${id}`,
      (abortSignal) => this.#requests.docker.getContainer(id).stop({ t: timeoutSeconds, abortSignal }),
      timeoutSeconds * 1000,
    );
    this.#requests.log.debug({ container: id, timeoutSeconds }, 'stopped container');
  }

  async unpause(id: string): Promise<void> {
    await this.#requests.write(`unpause container ${id}`, (abortSignal) => this.#requests.docker.getContainer(id).unpause({ abortSignal }));
    this.#requests.log.debug({ container: id }, 'unpaused container');
  }

  async remove(id: string): Promise<void> {
    await this.#requests.write(`remove container ${id}`, (abortSignal) => this.#requests.docker.getContainer(id).remove({ force: true, abortSignal }));
    this.#requests.log.debug({ container: id }, 'removed container');
  }

  async rename(id: string, name: string): Promise<void> {
    await this.#requests.write(`rename container ${id} to ${name}`, (abortSignal) => this.#requests.docker.getContainer(id).rename({ name, abortSignal }));
    this.#requests.log.debug({ container: id, name }, 'renamed container');
  }
}

function fromSummary(summary: Dockerode.ContainerInfo): ContainerSummary {
  return {
    id: summary.Id,
    name: (summary.Names[0] ?? '').replace(/^\//, ''),
    state: summary.State as EngineContainerState,
    labels: summary.Labels ?? {},
    // The list has no health field; its Status text ends so: "Up 5 seconds (healthy)", "(health: starting)".
    health: containerHealth(/\((?:health: )?(starting|healthy|unhealthy)\)$/.exec(summary.Status ?? '')?.[1]),
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
    imageId: details.Image,
    startedAt: ran ? new Date(state.StartedAt) : undefined,
    exitCode: ran && !state.Running ? state.ExitCode : undefined,
    health: containerHealth(state.Health?.Status),
    healthcheck: runsHealthcheck(details.Config.Healthcheck?.Test),
    healthOutput: state.Health?.Log?.at(-1)?.Output,
    tty: details.Config.Tty,
  };
}

/** An empty test inherits nothing here (the engine merged the image's in already), and ["NONE"] turns it off. */
function runsHealthcheck(test: string[] | undefined): boolean {
  return test !== undefined && test.length > 0 && test[0] !== 'NONE';
}
