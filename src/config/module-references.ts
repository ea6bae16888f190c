import type { ConfigIssue } from './config-error.ts';
import type { DockerYaml } from './docker-yaml-schema.ts';
import type { Locator } from '../lib/yaml-positions.ts';
import { defaultEngine } from './module-spec.ts';

/**
 * What a module names elsewhere in docker.yaml: its named volumes and networks must be declared at the
 * top, its dependencies must be modules, `healthy` needs a healthcheck, and dependsOn must not loop.
 */
export function referenceIssues(data: DockerYaml, located: Locator): ConfigIssue[] {
  const issues = Object.entries(data.modules).flatMap(([name, module]) => [
    ...volumeIssues(data, name, module, located),
    ...networkIssues(data, name, module, located),
    ...dependencyIssues(data, name, module, located),
    ...engineIssues(data, name, module, located),
    ...swarmPortIssues(name, module, located),
  ]);
  const addressed = new Map<string, string>();
  for (const [engine, { host, tls }] of Object.entries(data.engines)) {
    if (tls && !host.startsWith('tcp://')) issues.push(located.path(['engines', engine, 'tls'], `tls is for tcp:// engines; ${host.split(':')[0]}:// is secured by its own means`));
    const first = addressed.get(host);
    if (first) issues.push(located.path(['engines', engine, 'host'], `engine "${first}" has this address already: two names for one engine would both own its containers`));
    else addressed.set(host, engine);
  }
  if (Object.hasOwn(data.networks, 'default')) issues.push(located.path(['networks', 'default'], 'the network "default" is berth\'s own (<project>_default, which every module joins); choose another name'));
  return [...issues, ...cycles(data).map((cycle) => located.path(['modules', cycle[0]!, 'dependsOn', cycle[1]!], `dependsOn cycle: ${cycle.join(' → ')}`))];
}

type Module = DockerYaml['modules'][string];

function volumeIssues(data: DockerYaml, name: string, module: Module, located: Locator): ConfigIssue[] {
  return module.volumes.flatMap((volume, index) => {
    const here = ['modules', name, 'volumes', index];
    const first = module.volumes.findIndex((other) => other.target === volume.target);
    if (first < index) return [located.path(here, `${volume.target} is already mounted by volumes.${first} ("${module.volumes[first]!.entry}")`)];
    if (volume.type === 'volume' && !Object.hasOwn(data.volumes, volume.source)) return [located.path(here, `volume "${volume.source}" is not declared under the top-level volumes`)];
    return [];
  });
}

function networkIssues(data: DockerYaml, name: string, module: Module, located: Locator): ConfigIssue[] {
  return module.networks.flatMap((network, index) => {
    const here = ['modules', name, 'networks', index];
    if (module.networks.indexOf(network) < index) return [located.path(here, `network "${network}" is listed twice`)];
    if (!Object.hasOwn(data.networks, network)) return [located.path(here, `network "${network}" is not declared under the top-level networks`)];
    return [];
  });
}

/** Swarm publishes a task's port on every address of its node: it has no host address to bind to. */
function swarmPortIssues(name: string, module: Module, located: Locator): ConfigIssue[] {
  if (!module.deploy) return [];
  return Object.entries(module.ports).flatMap(([port, { host }]) =>
    host === undefined ? [] : [located.path(['modules', name, 'ports', port, 'host'], 'a Swarm module (deploy) publishes its ports on every address of its node: remove host')],
  );
}

function dependencyIssues(data: DockerYaml, name: string, module: Module, located: Locator): ConfigIssue[] {
  return Object.entries(module.dependsOn).flatMap(([dependency, condition]) => {
    const here = ['modules', name, 'dependsOn', dependency];
    const target = Object.hasOwn(data.modules, dependency) ? data.modules[dependency] : undefined;
    if (!target) return [located.path(here, `unknown module "${dependency}"; dependsOn names modules of this docker.yaml`)];
    if (condition === 'healthy' && !hasHealthcheck(target)) return [located.path(here, `"${dependency}" has no healthcheck, so it can never be healthy; give it one, or depend on it being started`)];
    return [];
  });
}

/** The engine a module names is declared, and its dependencies run there too: containers meet only on one engine's networks. */
function engineIssues(data: DockerYaml, name: string, module: Module, located: Locator): ConfigIssue[] {
  const engine = engineOf(module);
  if (engine !== defaultEngine && !Object.hasOwn(data.engines, engine)) return [located.path(['modules', name, 'engine'], `unknown engine "${engine}"; declare it under the top-level engines`)];
  return Object.keys(module.dependsOn).flatMap((dependency) => {
    const target = Object.hasOwn(data.modules, dependency) ? data.modules[dependency] : undefined;
    if (!target || engineOf(target) === engine) return [];
    return [located.path(['modules', name, 'dependsOn', dependency], `"${dependency}" runs on engine "${engineOf(target)}" and "${name}" on "${engine}": a module can depend only on modules of its own engine`)];
  });
}

export function engineOf(module: Module): string {
  return module.engine ?? defaultEngine;
}

function hasHealthcheck(module: Module): boolean {
  return module.healthcheck !== undefined && module.healthcheck.test[0] !== 'NONE';
}

/** Each cycle once, as the modules along it with the first repeated at the end. */
function cycles(data: DockerYaml): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    const at = trail.indexOf(name);
    if (at >= 0) return void found.push([...trail.slice(at), name]);
    if (done.has(name) || !Object.hasOwn(data.modules, name)) return;
    for (const dependency of Object.keys(data.modules[name]!.dependsOn)) visit(dependency, [...trail, name]);
    done.add(name);
  };
  for (const name of Object.keys(data.modules)) visit(name, []);
  return found;
}
