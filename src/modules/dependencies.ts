import type { Dependency, DependencyCondition, ModuleSpec } from '../config/module-spec.ts';
import type { ModuleState } from './module-store.ts';

/** Whether a dependency in this state meets its condition: met, not yet (wait for the next change), or never (why). */
export type Verdict = { met: true } | { met: false; never?: string };

const waiting: Verdict = { met: false };
const met: Verdict = { met: true };

/**
 * What a dependency's state says of its condition, once berth has asked for it to start. `healthcheck`:
 * whether its container has one, undefined until berth has read the container.
 */
export function verdict(condition: DependencyCondition, state: ModuleState, healthcheck?: boolean): Verdict {
  if (state.status === 'HANDLING') return waiting;
  if (state.status === 'NOT_LOADED') return { met: false, never: 'its image is not on the engine' };
  if (state.status === 'NOT_CREATED') return { met: false, never: 'its container was removed' };
  const exited = `exited with code ${state.exitCode ?? 'unknown'}`;
  switch (condition) {
    case 'started':
      return state.status === 'RUNNING' || state.exitCode === 0 ? met : { met: false, never: exited };
    case 'healthy':
      if (state.status === 'EXITED') return { met: false, never: `${exited} before it was healthy` };
      if (state.health === 'UNHEALTHY') return { met: false, never: 'its healthcheck failed: it is unhealthy' };
      // Running with no healthcheck: its container was made before docker.yaml gave it one.
      if (state.status === 'RUNNING' && healthcheck === false) return { met: false, never: 'it runs without a healthcheck (its container was made before docker.yaml gave it one: restart it to make it again)' };
      return state.health === 'HEALTHY' ? met : waiting;
    case 'completed':
      if (state.status === 'RUNNING') return waiting;
      return state.exitCode === 0 ? met : { met: false, never: exited };
  }
}

/**
 * Whether a dependency needs no start before its condition is awaited: it runs (a running job is awaited,
 * not run again), or, for completed, it already ran to code 0 from the current docker.yaml.
 */
export function underWay(condition: DependencyCondition, state: ModuleState, current: boolean): boolean {
  return state.status === 'RUNNING' || (condition === 'completed' && current && state.status === 'EXITED' && state.exitCode === 0);
}

/**
 * The modules to stop before each of `names`: those among `names` that depend on it, directly or through
 * others, so that a batch stops dependents first.
 */
export function stopFirst(names: readonly string[], specs: (name: string) => ModuleSpec | undefined): Map<string, string[]> {
  const needs = (from: string, target: string, seen = new Set<string>()): boolean =>
    (specs(from)?.dependsOn ?? []).some(({ module }: Dependency) => module === target || (!seen.has(module) && seen.add(module) && needs(module, target, seen)));
  return new Map(names.map((name) => [name, names.filter((other) => other !== name && needs(other, name))]));
}
