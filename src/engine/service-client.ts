import type Dockerode from 'dockerode';
import { engineStatusCode } from './engine-error.ts';
import type { EngineRequests } from './engine-requests.ts';
import type { NodeDetails, ServiceDetails, ServiceUpdateState, TaskDetails, TaskState } from './engine-types.ts';

export type ServiceSpec = Dockerode.ServiceSpec & { Name: string };

/** Which tasks to list; every filter given must hold. */
export interface TaskFilter {
  /** The service's id or name. */
  service?: string;
  /** Labels of the task's service. */
  labels?: Record<string, string>;
  /** Only tasks the orchestrator wants in one of these states (running: the current ones, not their history). */
  desiredStates?: readonly TaskState[];
}

/** Swarm services and what they are made of: tasks and nodes. Only a Swarm manager answers these. */
export interface ServiceClient {
  /** Every service that carries all these labels. */
  list(labels: Record<string, string>): Promise<ServiceDetails[]>;
  /** undefined when no service has that id or name. */
  inspect(idOrName: string): Promise<ServiceDetails | undefined>;
  /** Answers the new service's id. */
  create(spec: ServiceSpec): Promise<string>;
  /**
   * Replaces the service's spec; Swarm rolls the change out as its UpdateConfig says. `version` is the one read:
   * the engine refuses the update when the service changed since.
   */
  update(id: string, version: number, spec: ServiceSpec): Promise<void>;
  /** Swarm's own rollback to the spec before the last update, rolled out as its RollbackConfig says. */
  rollback(id: string): Promise<void>;
  /** Removes it and its tasks; false when it was gone already. */
  remove(id: string): Promise<boolean>;
  tasks(filter: TaskFilter): Promise<TaskDetails[]>;
  /** Every node of the swarm: a task on a node that is down does not run, whatever its last report said. */
  nodes(): Promise<NodeDetails[]>;
}

export class DockerServiceClient implements ServiceClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async list(labels: Record<string, string>): Promise<ServiceDetails[]> {
    const { docker, log } = this.#requests;
    const filters = { label: labelFilter(labels) };
    const services = await this.#requests.read('list services', (abortSignal) => docker.listServices({ filters, abortSignal }));
    log.debug({ labels, count: services.length }, 'listed services');
    return services.map(fromService);
  }

  async inspect(idOrName: string): Promise<ServiceDetails | undefined> {
    const { docker } = this.#requests;
    const service = await this.#requests.lookup(`inspect service ${idOrName}`, (abortSignal) => docker.getService(idOrName).inspect({ abortSignal }) as Promise<Dockerode.Service>);
    return service && fromService(service);
  }

  async create(spec: ServiceSpec): Promise<string> {
    const { docker, log } = this.#requests;
    const service = await this.#requests.write(`create service ${spec.Name}`, (abortSignal) => docker.createService({ ...spec, abortSignal }));
    log.debug({ service: service.id, name: spec.Name }, 'created service');
    return service.id;
  }

  async update(id: string, version: number, spec: ServiceSpec): Promise<void> {
    await this.#update(id, { version }, spec, `update service ${id}`);
    this.#requests.log.debug({ service: id, version }, 'updated service');
  }

  async rollback(id: string): Promise<void> {
    const { docker, log } = this.#requests;
    const service = await this.#requests.read(`inspect service ${id}`, (abortSignal) => docker.getService(id).inspect({ abortSignal }) as Promise<Dockerode.Service>);
    const version = service.Version?.Index ?? 0;
    // The engine takes the previous spec it holds; the body must still be a valid spec: the current one.
    await this.#update(id, { version, rollback: 'previous' }, service.Spec as ServiceSpec, `roll back service ${id}`);
    log.debug({ service: id, version }, 'rolled back service');
  }

  async remove(id: string): Promise<boolean> {
    const { docker, log } = this.#requests;
    try {
      await this.#requests.write(`remove service ${id}`, (abortSignal) => docker.getService(id).remove({ abortSignal }));
    } catch (error) {
      if (engineStatusCode(error) === 404) return false;
      throw error;
    }
    log.debug({ service: id }, 'removed service');
    return true;
  }

  async tasks({ service, labels, desiredStates }: TaskFilter): Promise<TaskDetails[]> {
    const { docker, log } = this.#requests;
    const filters = {
      ...(service !== undefined && { service: [service] }),
      ...(labels && { label: labelFilter(labels) }),
      ...(desiredStates && { 'desired-state': [...desiredStates] }),
    };
    const tasks = (await this.#requests.read('list tasks', (abortSignal) => docker.listTasks({ filters, abortSignal }))) as EngineTask[];
    log.debug({ service, labels, desiredStates, count: tasks.length }, 'listed tasks');
    return tasks.map(fromTask);
  }

  async nodes(): Promise<NodeDetails[]> {
    const { docker } = this.#requests;
    const nodes = (await this.#requests.read('list swarm nodes', (abortSignal) => docker.listNodes({ abortSignal }))) as EngineNode[];
    return nodes.map(fromNode);
  }

  async #update(id: string, query: Record<string, string | number>, spec: ServiceSpec, doing: string): Promise<void> {
    const service = this.#requests.docker.getService(id);
    // dockerode sends `_query` as the query (the version) and `_body` as the body (the spec).
    await this.#requests.write(doing, (abortSignal) => service.update({ _query: query, _body: spec, abortSignal } as object));
  }
}

function labelFilter(labels: Record<string, string>): string[] {
  return Object.entries(labels).map(([key, value]) => `${key}=${value}`);
}

function fromService(service: Dockerode.Service): ServiceDetails {
  const { UpdateStatus: update } = service;
  return {
    id: service.ID,
    name: service.Spec?.Name ?? '',
    labels: service.Spec?.Labels ?? {},
    version: service.Version?.Index ?? 0,
    replicas: service.Spec?.Mode?.Replicated?.Replicas ?? 0,
    update: update?.State && { state: update.State as ServiceUpdateState, message: update.Message },
    spec: { ...service.Spec, Name: service.Spec?.Name ?? '' },
  };
}

/** The fields of GET /tasks that berth reads (dockerode does not type them). */
interface EngineTask {
  ID: string;
  ServiceID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState: TaskState;
  Status: { State: TaskState; Timestamp: string; Message?: string; Err?: string };
}

function fromTask(task: EngineTask): TaskDetails {
  const { Status: status } = task;
  return {
    id: task.ID,
    serviceId: task.ServiceID,
    slot: task.Slot,
    nodeId: task.NodeID || undefined,
    state: status.State,
    desiredState: task.DesiredState,
    message: status.Err || status.Message || undefined,
    at: new Date(status.Timestamp),
  };
}

interface EngineNode {
  ID: string;
  Spec: { Role: NodeDetails['role']; Availability: NodeDetails['availability'] };
  Status: { State: NodeDetails['state'] };
}

function fromNode(node: EngineNode): NodeDetails {
  return { id: node.ID, role: node.Spec.Role, state: node.Status.State, availability: node.Spec.Availability };
}
