import type { BerthConfig, ModuleSpec } from '../../src/config/module-spec.ts';
import { labelKeys, moduleLabels } from '../../src/modules/container-spec.ts';
import type { ContainerCreateOptions, ContainerDetails, ContainerSummary, DockerClient, EngineVersion } from '../../src/engine/docker-client.ts';
import type { EngineEvent } from '../../src/engine/event-stream.ts';
import type { EngineContainerState } from '../../src/modules/module-status.ts';

export const project = 'testproj';

export function moduleSpec(name: string, overrides: Partial<ModuleSpec> = {}): ModuleSpec {
  return { name, kind: 'svc', containerName: `${name}_svc`, image: `example/${name}:1`, autostart: false, envs: {}, ports: [], ...overrides };
}

export function berthConfig(...modules: ModuleSpec[]): BerthConfig {
  return { project, modules, secrets: [] };
}

/** An engine held in memory: containers by id, images by reference. */
export class FakeDockerClient implements DockerClient {
  readonly images = new Set<string>();
  readonly containers = new Map<string, ContainerDetails>();
  engineVersion: EngineVersion = { version: '27.3.1', apiVersion: '1.47' };
  #nextId = 1;

  addContainer(spec: ModuleSpec, state: EngineContainerState, labels: Record<string, string> = moduleLabels(project, spec)): ContainerDetails {
    const id = `c${this.#nextId++}`.padEnd(64, '0');
    const container: ContainerDetails = { id, name: spec.containerName, state, labels, image: spec.image, startedAt: undefined, exitCode: undefined };
    this.containers.set(id, container);
    return container;
  }

  setState(id: string, state: EngineContainerState): void {
    const container = this.containers.get(id);
    if (!container) throw new Error(`no container ${id}`);
    container.state = state;
    if (state === 'running') container.startedAt = new Date('2025-01-01T00:00:00Z');
    if (state === 'exited') container.exitCode = 0;
  }

  async version(): Promise<EngineVersion> {
    return { ...this.engineVersion };
  }

  async hasImage(reference: string): Promise<boolean> {
    return this.images.has(reference);
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return [...this.containers.values()]
      .filter((container) => Object.entries(labels).every(([key, value]) => container.labels[key] === value))
      .map(({ id, name, state, labels }) => ({ id, name, state, labels: { ...labels } }));
  }

  async inspectContainer(idOrName: string): Promise<ContainerDetails | undefined> {
    const container = this.containers.get(idOrName) ?? [...this.containers.values()].find((candidate) => candidate.name === idOrName);
    return container && { ...container, labels: { ...container.labels } };
  }

  async createContainer(options: ContainerCreateOptions): Promise<string> {
    const labels = options.Labels ?? {};
    const spec = moduleSpec(labels[labelKeys.module] ?? options.name, { containerName: options.name, image: options.Image ?? '' });
    return this.addContainer(spec, 'created', labels).id;
  }

  async startContainer(id: string): Promise<void> {
    this.setState(id, 'running');
  }

  async stopContainer(id: string): Promise<void> {
    this.setState(id, 'exited');
  }

  async unpauseContainer(id: string): Promise<void> {
    this.setState(id, 'running');
  }

  async removeContainer(id: string): Promise<void> {
    this.containers.delete(id);
  }

  async events(): Promise<AsyncIterable<EngineEvent>> {
    throw new Error('the fake engine has no event stream');
  }
}

export function containerEvent(container: ContainerDetails, action = 'start'): EngineEvent {
  return { type: 'container', action, id: container.id, attributes: { ...container.labels, name: container.name, ...(action === 'die' ? { exitCode: String(container.exitCode ?? 0) } : {}) }, time: new Date() };
}
