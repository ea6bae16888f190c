import type { ContainerHealth, EngineContainerState } from '../engine/engine-types.ts';

export const containerStatuses = ['NOT_LOADED', 'NOT_CREATED', 'RUNNING', 'EXITED', 'HANDLING'] as const;
export type ContainerStatus = (typeof containerStatuses)[number];

export const healthStatuses = ['NONE', 'STARTING', 'HEALTHY', 'UNHEALTHY'] as const;
/** A module's health: NONE when its container has no healthcheck (or no container, or never started). */
export type HealthStatus = (typeof healthStatuses)[number];

const statusOfState: Record<EngineContainerState, ContainerStatus> = {
  running: 'RUNNING',
  created: 'EXITED',
  exited: 'EXITED',
  dead: 'EXITED',
  paused: 'EXITED',
  restarting: 'HANDLING',
  removing: 'HANDLING',
};

export function moduleStatus(imagePresent: boolean, containerState: EngineContainerState | undefined): ContainerStatus {
  if (containerState) return statusOfState[containerState] ?? 'HANDLING';
  return imagePresent ? 'NOT_CREATED' : 'NOT_LOADED';
}

const healthOfContainer: Record<ContainerHealth, HealthStatus> = { starting: 'STARTING', healthy: 'HEALTHY', unhealthy: 'UNHEALTHY' };

/** The container's health as the engine reports it; NONE without a container or a healthcheck. */
export function moduleHealth(containerHealth: ContainerHealth | undefined): HealthStatus {
  return containerHealth ? healthOfContainer[containerHealth] : 'NONE';
}

export function isStopped(status: ContainerStatus): boolean {
  return status === 'NOT_CREATED' || status === 'EXITED';
}
