import type { NodeDetails, ServiceDetails, ServiceUpdateState, TaskDetails, TaskState } from '../engine/engine-types.ts';
import type { ContainerStatus } from './module-status.ts';

/** A Swarm module's status, and its replicas: how many tasks it wants and how many run. */
export interface ServiceStatus {
  status: ContainerStatus;
  replicas: { desired: number; running: number };
}

/** A task in one of these states has ended: Swarm never moves it again (a replacement is a new task). */
const endedStates = new Set<TaskState>(['complete', 'shutdown', 'failed', 'rejected', 'remove', 'orphaned']);
/** The orchestrator wants such a task to run: `ready` is a replacement waiting out its restart delay. */
const wantedStates = new Set<TaskState>(['ready', 'running']);
const rollingStates = new Set<ServiceUpdateState | undefined>(['updating', 'rollback_started']);
/** A node that stopped answering (down), or that left: its tasks' last reports no longer hold. */
const lostNodeStates = new Set<NodeDetails['state']>(['down', 'disconnected']);

/**
 * The status of a Swarm module from its service, the service's tasks (their history included) and the swarm's
 * nodes (all of them: a task on a node missing from the list counts as lost).
 *
 * - RUNNING: as many tasks run as the service wants, more than 0, and nothing moves; also when fewer run and
 *   Swarm has given up on the others (their restart policy is spent): `replicas` then tells the shortfall.
 * - HANDLING: a rolling update or rollback runs, or a task moves: wanted but not running yet (pending, starting,
 *   waiting out a restart delay, failed and about to be replaced) or on a lost node, or running but being stopped.
 * - EXITED: nothing runs and nothing moves: scaled to 0, or every task ended and Swarm replaces none.
 *
 * A task counts as running only on a node that is not lost: the manager keeps a dead node's tasks as they were.
 */
export function serviceStatus(service: ServiceDetails, tasks: readonly TaskDetails[], nodes: readonly NodeDetails[]): ServiceStatus {
  const liveNodes = new Set(nodes.filter((node) => !lostNodeStates.has(node.state)).map((node) => node.id));
  const own = tasks.filter((task) => task.serviceId === service.id);
  const lost = (task: TaskDetails) => task.nodeId !== undefined && !liveNodes.has(task.nodeId);
  const running = own.filter((task) => task.state === 'running' && !lost(task)).length;
  const replicas = { desired: service.replicas, running };
  if (rollingStates.has(service.update?.state) || own.some((task) => moving(task, lost(task)))) return { status: 'HANDLING', replicas };
  // Tasks follow a service's create at once: none yet means Swarm is about to make them.
  if (running === 0) return { status: service.replicas > 0 && own.length === 0 ? 'HANDLING' : 'EXITED', replicas };
  return { status: running > service.replicas ? 'HANDLING' : 'RUNNING', replicas };
}

/** On its way: wanted but not running (yet, or any more), or still running though no longer wanted. */
function moving(task: TaskDetails, lost: boolean): boolean {
  if (wantedStates.has(task.desiredState)) return lost || task.state !== 'running';
  return !lost && !endedStates.has(task.state);
}
