import { containerHealth, type ContainerDetails, type ContainerHealth, type EngineContainerState, type EngineEvent } from '../engine/engine-types.ts';

/** The container state an event leaves behind; other events, health_status aside, change nothing berth shows. */
const stateAfter: Partial<Record<string, EngineContainerState>> = {
  create: 'created',
  start: 'running',
  restart: 'running',
  unpause: 'running',
  pause: 'paused',
  die: 'exited',
  stop: 'exited',
};

/** The container events berth acts on; the engine filters out the rest (a healthcheck's exec events, each second). */
export const containerActions: readonly string[] = [...Object.keys(stateAfter), 'destroy', 'rename', 'health_status'];

/**
 * The module's container as the engine holds it after the event, from the event's own facts (state,
 * exit code, time, health verdict) and what was known before; undefined when the event changes nothing
 * berth shows. The caller handles destroy.
 */
export function containerAfter(known: ContainerDetails | undefined, event: EngineEvent): ContainerDetails | undefined {
  const state = event.action === 'health_status' ? (known?.state ?? 'running') : stateAfter[event.action];
  if (!state) return undefined;
  const { attributes } = event;
  const base = known ?? fromAttributes(event, state);
  const exitCode = attributes.exitCode === undefined ? base.exitCode : Number(attributes.exitCode);
  return {
    ...base,
    state,
    name: attributes.name ?? base.name,
    startedAt: state === 'running' && event.action !== 'unpause' && event.action !== 'health_status' ? event.time : base.startedAt,
    exitCode: state === 'running' ? undefined : exitCode,
    health: healthAfter(base, event, state),
    // Only a container with a healthcheck has health verdicts.
    healthcheck: event.action === 'health_status' ? true : base.healthcheck,
  };
}

/** A container known only from this event: whether it has a healthcheck is not in its events. */
function fromAttributes({ id, attributes }: EngineEvent, state: EngineContainerState): ContainerDetails {
  return { id, name: attributes.name ?? '', labels: attributes, image: attributes.image ?? '', state, startedAt: undefined, exitCode: undefined };
}

/**
 * What a later inspect would say, as the engine does it (seen on 20.10): each start opens the check as
 * `starting`; closing it (die, stop, pause) marks it `unhealthy`, without an event; unpause resumes it as
 * pause left it; health_status events carry each change of verdict after that.
 */
function healthAfter(base: ContainerDetails, event: EngineEvent, state: EngineContainerState): ContainerHealth | undefined {
  if (event.action === 'health_status') return containerHealth(event.detail) ?? base.health;
  if (event.action === 'start' || event.action === 'restart') return base.healthcheck ? 'starting' : undefined;
  return state !== 'running' && base.health !== undefined ? 'unhealthy' : base.health;
}
