import type { ConfigIssue } from './config-error.ts';
import type { DockerYaml } from './docker-yaml-schema.ts';
import type { Locator } from '../lib/yaml-positions.ts';

/**
 * What a module names elsewhere in docker.yaml: its named volumes and networks must be declared at the
 * top, its dependencies must be modules, `healthy` needs a healthcheck, and dependsOn must not loop.
 */
export function referenceIssues(data: DockerYaml, located: Locator): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, module] of Object.entries(data.modules)) {
    module.volumes.forEach((volume, index) => {
      if (volume.type === 'volume' && !(volume.source in data.volumes)) {
        issues.push(located.path(['modules', name, 'volumes', index], `volume "${volume.source}" is not declared under the top-level volumes`));
      }
    });
    module.networks.forEach((network, index) => {
      if (!(network in data.networks)) issues.push(located.path(['modules', name, 'networks', index], `network "${network}" is not declared under the top-level networks`));
    });
    for (const [dependency, condition] of Object.entries(module.dependsOn)) {
      const target = data.modules[dependency];
      const here = ['modules', name, 'dependsOn', dependency];
      if (!target) issues.push(located.path(here, `unknown module "${dependency}"; dependsOn names modules of this docker.yaml`));
      else if (condition === 'healthy' && !hasHealthcheck(target)) issues.push(located.path(here, `"${dependency}" has no healthcheck, so it can never be healthy; give it one, or depend on it being started`));
    }
  }
  if ('default' in data.networks) issues.push(located.path(['networks', 'default'], 'the network "default" is berth\'s own (<project>_default, which every module joins); choose another name'));
  return [...issues, ...cycles(data).map((cycle) => located.path(['modules', cycle[0]!, 'dependsOn', cycle[1]!], `dependsOn cycle: ${cycle.join(' → ')}`))];
}

function hasHealthcheck(module: DockerYaml['modules'][string]): boolean {
  return module.healthcheck !== undefined && module.healthcheck.test[0] !== 'NONE';
}

/** Each cycle once, as the modules along it with the first repeated at the end. */
function cycles(data: DockerYaml): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    const at = trail.indexOf(name);
    if (at >= 0) return void found.push([...trail.slice(at), name]);
    if (done.has(name) || !data.modules[name]) return;
    for (const dependency of Object.keys(data.modules[name].dependsOn)) visit(dependency, [...trail, name]);
    done.add(name);
  };
  for (const name of Object.keys(data.modules)) visit(name, []);
  return found;
}
