// The soak's modules, their docker.yaml, and what the engine itself says each module's status is.
import type Dockerode from 'dockerode';

export const sharedImage = 'berth-test/http-env:1.0';

export type ModuleStatus = 'NOT_LOADED' | 'NOT_CREATED' | 'RUNNING' | 'EXITED' | 'HANDLING';

export interface SoakModule {
  name: string;
  autostart: boolean;
  /** Its own tag of the shared image, so that untagging and tagging it unloads and loads the module. */
  ownImage: string | undefined;
  image: string;
}

/** Half of them autostart; every fifth has an image tag of its own. */
export function soakModules(count: number): SoakModule[] {
  return Array.from({ length: count }, (_, index) => {
    const name = `m${String(index).padStart(2, '0')}`;
    const ownImage = index % 5 === 0 ? `soak/${name}:1` : undefined;
    return { name, autostart: index % 2 === 0, ownImage, image: ownImage ?? sharedImage };
  });
}

/** No ports: the second engine has no bridge. */
export function dockerYaml(project: string, modules: SoakModule[]): string {
  const entries = modules.map(
    (module) => `  ${module.name}:\n    kind: soak\n    image: ${module.image}\n    autostart: ${module.autostart}\n`,
  );
  return `project: ${project}\nmodules:\n${entries.join('')}`;
}

export async function tagOwnImage(docker: Dockerode, module: SoakModule): Promise<void> {
  const [repo = '', tag = ''] = module.ownImage!.split(':');
  await docker.getImage(sharedImage).tag({ repo, tag });
}

export interface EngineView {
  statuses: Map<string, ModuleStatus>;
  /** Modules with more than one container. */
  duplicates: string[];
}

/** Each module's status as `docker ps -a` with berth's labels, `docker inspect` and `docker image inspect` say. */
export async function engineView(docker: Dockerode, project: string, modules: SoakModule[]): Promise<EngineView> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
  const view: EngineView = { statuses: new Map(), duplicates: [] };
  for (const module of modules) {
    const ids = containers.filter((container) => container.Labels['berth.module'] === module.name).map(({ Id }) => Id);
    if (ids.length > 1) view.duplicates.push(module.name);
    view.statuses.set(module.name, await moduleStatus(docker, module, ids[0]));
  }
  return view;
}

async function moduleStatus(docker: Dockerode, module: SoakModule, containerId?: string): Promise<ModuleStatus> {
  const state = containerId && (await docker.getContainer(containerId).inspect().catch(ignoreNotFound))?.State;
  if (state) return state.Paused ? 'EXITED' : statusOfState(state.Status);
  const image = await docker.getImage(module.image).inspect().catch(ignoreNotFound);
  return image ? 'NOT_CREATED' : 'NOT_LOADED';
}

function statusOfState(state: string): ModuleStatus {
  if (state === 'running') return 'RUNNING';
  if (state === 'restarting' || state === 'removing') return 'HANDLING';
  return 'EXITED'; // created, exited, dead, paused
}

export function ignoreNotFound(error: unknown): undefined {
  if ((error as { statusCode?: number }).statusCode === 404) return undefined;
  throw error;
}
