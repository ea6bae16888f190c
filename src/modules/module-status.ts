import type { EngineContainerState } from '../engine/engine-types.ts';

export const containerStatuses = ['NOT_LOADED', 'NOT_CREATED', 'RUNNING', 'EXITED', 'HANDLING'] as const;
export type ContainerStatus = (typeof containerStatuses)[number];


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

export function isStopped(status: ContainerStatus): boolean {
  return status === 'NOT_CREATED' || status === 'EXITED';
}
