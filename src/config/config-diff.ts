import { isDeepStrictEqual } from 'node:util';
import type { BerthConfig } from './module-spec.ts';

/** What a new docker.yaml does to the modules, by name, each list in the new file's order (removed: the old one's). */
export interface ConfigChanges {
  added: string[];
  removed: string[];
  /** Declared in both, with a spec that differs in anything (image, envs, ports, kind, dependsOn, autostart…). */
  changed: string[];
}

export function diffConfigs(before: BerthConfig, after: BerthConfig): ConfigChanges {
  const old = new Map(before.modules.map((module) => [module.name, module]));
  const names = new Set(after.modules.map((module) => module.name));
  return {
    added: after.modules.filter((module) => !old.has(module.name)).map((module) => module.name),
    removed: before.modules.filter((module) => !names.has(module.name)).map((module) => module.name),
    changed: after.modules.filter((module) => old.has(module.name) && !isDeepStrictEqual(old.get(module.name), module)).map((module) => module.name),
  };
}

/** The same configuration once `${VAR}` are expanded: a new comment or a reordered key changes nothing. */
export function sameConfig(before: BerthConfig, after: BerthConfig): boolean {
  return isDeepStrictEqual(before, after);
}
