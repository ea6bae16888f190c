import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { BerthConfig, ModuleSpec } from '../../src/config/module-spec.ts';
import type { ContainerCreateOptions } from '../../src/engine/container-client.ts';
import type { DockerClient } from '../../src/engine/docker-client.ts';
import { toBerthError } from '../../src/engine/engine-error.ts';
import type { PullFrame, RegistryAuth } from '../../src/engine/image-pull-client.ts';
import { BerthError } from '../../src/errors.ts';
import type { ContainerDetails, ContainerHealth, ContainerStats, EngineContainerState, EngineEvent, EngineVersion, ImageDetails, ImageSummary, LogLine, LogStream, NodeDetails, ServiceDetails, SwarmMembership, TaskDetails } from '../../src/engine/engine-types.ts';
import type { ServiceSpec } from '../../src/engine/service-client.ts';
import type { LogQuery, LogRead } from '../../src/engine/log-client.ts';
import { labelKeys, moduleLabels } from '../../src/modules/container-spec.ts';
import { PushQueue } from '../../src/lib/async-iteration.ts';
import { pino } from 'pino';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { Fleet } from '../../src/modules/fleet.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';

export const project = 'testproj';

export function moduleSpec(name: string, overrides: Partial<ModuleSpec> = {}): ModuleSpec {
  return { name, kind: 'svc', engine: 'local', containerName: `${name}_svc`, image: `example/${name}:1`, autostart: false, envs: {}, ports: [], volumes: [], networks: [`${project}_default`], update: 'manual', dependsOn: [], ...overrides };
}

export function berthConfig(...modules: ModuleSpec[]): BerthConfig {
  return { project, engines: [{ name: 'local' }], modules, volumes: [], networks: [`${project}_default`], registries: {}, secrets: [] };
}

/** How a faked call fails: an engine status, unreachable, or no answer until the caller gives up. */
export type Failure = 304 | 404 | 409 | 500 | 'unreachable' | 'never';

/**
 * An engine held in memory, for unit tests of what reads and drives it: containers by id, images by
 * reference, an event stream the test feeds, and calls that can be made to fail or never answer.
 * It records every call as "resource.method target".
 */
export class FakeEngine implements DockerClient {
  readonly imageIds = new Map<string, string>();
  readonly held = new Map<string, ContainerDetails>();
  readonly calls: string[] = [];
  engineVersion: EngineVersion = { version: '27.3.1', apiVersion: '1.47' };
  /** While true every call fails as unreachable and no event stream opens. */
  down = false;
  readonly #failures = new Map<string, { failure: Failure; times: number }[]>();
  readonly #streams = new Set<PushQueue<EngineEvent>>();
  #nextId = 1;

  addImage(reference: string): string {
    const id = `sha256:${reference.replace(/[^a-z0-9]/g, '').padEnd(64, '0')}`;
    this.imageIds.set(reference, id);
    return id;
  }

  /** A container with a healthcheck starts `starting`, as the engine's do; one never started has no health. */
  addContainer(spec: ModuleSpec, state: EngineContainerState, labels: Record<string, string> = moduleLabels(project, spec), { healthcheck = false } = {}): ContainerDetails {
    // Padded at the front: `c1` and `c10` padded at the end would be the same id.
    const id = `c${String(this.#nextId++).padStart(63, '0')}`;
    const container: ContainerDetails = { id, name: spec.containerName, state, labels, image: spec.image, startedAt: undefined, exitCode: undefined, healthcheck };
    if (healthcheck && state === 'running') container.health = 'starting';
    this.held.set(id, container);
    return container;
  }

  /**
   * As the engine: a start opens the healthcheck as `starting`, anything else closes it as `unhealthy`, and an
   * unpause leaves `unhealthy` until the next check.
   */
  setState(id: string, state: EngineContainerState, { unpaused = false } = {}): void {
    const container = this.#held(id);
    container.state = state;
    if (state === 'running' && !unpaused) container.startedAt = new Date('2025-01-01T00:00:00Z');
    if (state === 'exited') container.exitCode = 0;
    if (container.healthcheck && !unpaused) container.health = state === 'running' ? 'starting' : 'unhealthy';
    // The engine ends a log's follow when the container stops.
    if (state !== 'running' && state !== 'paused') this.#endLogStreams(id);
  }

  /** A verdict of the container's healthcheck. */
  setHealth(id: string, health: ContainerHealth): void {
    this.#held(id).health = health;
  }

  #held(id: string): ContainerDetails {
    const container = this.held.get(id);
    if (!container) throw new Error(`no container ${id}`);
    return container;
  }

  /** The next `times` calls of `call` ("containers.start", "system.version", …) fail so. */
  fail(call: string, failure: Failure, times = 1): void {
    const rules = this.#failures.get(call) ?? [];
    rules.push({ failure, times });
    this.#failures.set(call, rules);
  }

  /** Sends an event to every open stream. */
  emit(event: EngineEvent): void {
    for (const stream of this.#streams) stream.push(event);
  }

  /** Ends every open event stream, as a broken connection does. */
  breakStreams(): void {
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  async #call(call: string, target = ''): Promise<void> {
    this.calls.push(target ? `${call} ${target}` : call);
    const rules = this.#failures.get(call);
    const rule = rules?.[0];
    if (rule && --rule.times <= 0) rules.shift();
    const failure: Failure | undefined = this.down ? 'unreachable' : rule?.failure;
    if (failure === undefined) return;
    if (failure === 'never') await new Promise(() => {});
    const cause = failure === 'unreachable' ? Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) : Object.assign(new Error(`engine says ${failure}`), { statusCode: failure });
    throw toBerthError(cause, call);
  }

  #find(idOrName: string): ContainerDetails | undefined {
    return this.held.get(idOrName) ?? [...this.held.values()].find((candidate) => candidate.name === idOrName);
  }

  #existing(id: string): ContainerDetails {
    const container = this.#find(id);
    if (!container) throw toBerthError(Object.assign(new Error('no such container'), { statusCode: 404 }), `use container ${id}`);
    return container;
  }

  readonly containers = {
    list: async (labels: Record<string, string>) => {
      await this.#call('containers.list');
      return [...this.held.values()]
        .filter((container) => Object.entries(labels).every(([key, value]) => container.labels[key] === value))
        .map(({ id, name, state, labels, health }) => ({ id, name, state, labels: { ...labels }, health: state === 'running' ? health : undefined }));
    },
    inspect: async (idOrName: string) => {
      await this.#call('containers.inspect', idOrName);
      const container = this.#find(idOrName);
      return container && { ...container, labels: { ...container.labels } };
    },
    create: async (options: ContainerCreateOptions) => {
      await this.#call('containers.create', options.name);
      if (this.#find(options.name)) throw toBerthError(Object.assign(new Error('name in use'), { statusCode: 409 }), 'create');
      if (!this.imageIds.has(options.Image ?? '')) throw toBerthError(Object.assign(new Error('no such image'), { statusCode: 404 }), 'create');
      const labels = options.Labels ?? {};
      const spec = moduleSpec(labels[labelKeys.module] ?? options.name, { containerName: options.name, image: options.Image ?? '' });
      const test = options.Healthcheck?.Test ?? [];
      return this.addContainer(spec, 'created', labels, { healthcheck: test.length > 0 && test[0] !== 'NONE' }).id;
    },
    start: async (id: string) => {
      await this.#call('containers.start', id);
      this.setState(this.#existing(id).id, 'running');
    },
    stop: async (id: string) => {
      await this.#call('containers.stop', id);
      this.setState(this.#existing(id).id, 'exited');
    },
    unpause: async (id: string) => {
      await this.#call('containers.unpause', id);
      this.setState(this.#existing(id).id, 'running', { unpaused: true });
    },
    remove: async (id: string) => {
      await this.#call('containers.remove', id);
      this.held.delete(this.#existing(id).id);
      this.logsHeld.delete(id);
      this.#endLogStreams(id);
    },
    rename: async (id: string, name: string) => {
      await this.#call('containers.rename', id);
      if (this.#find(name)) throw toBerthError(Object.assign(new Error('name in use'), { statusCode: 409 }), 'rename');
      this.#existing(id).name = name;
    },
  };

  /** Each container's log, oldest line first; a line's time counts up by a millisecond from a fixed moment. */
  readonly logsHeld = new Map<string, LogLine[]>();
  readonly #logStreams = new Map<string, Set<PushQueue<LogLine[]>>>();
  #logTime = 1_750_000_000_000_000_000n;

  /** The container prints lines: they go to its log and to every follow of it, each follow's lines its own objects. */
  print(id: string, texts: string[], stream: LogStream = 'stdout', { time }: { time?: bigint } = {}): LogLine[] {
    const lines = texts.map((text) => {
      const at = time ?? (this.#logTime += 1_000_000n);
      return { stream, text, at: new Date(Number(at / 1_000_000n)), time: at };
    });
    this.logsHeld.set(id, [...(this.logsHeld.get(id) ?? []), ...lines]);
    for (const follow of this.#logStreams.get(id) ?? []) follow.push(lines.map((line) => ({ ...line })));
    return lines;
  }

  /** Ends every follow of the container's log, as a broken connection does. */
  breakLogStreams(id: string): void {
    this.#endLogStreams(id);
  }

  /** Follows of logs that are open: engine connections a real engine would hold. */
  get openLogStreams(): number {
    return [...this.#logStreams.values()].reduce((count, streams) => count + streams.size, 0);
  }

  #endLogStreams(id: string): void {
    for (const stream of this.#logStreams.get(id) ?? []) stream.end();
    this.#logStreams.delete(id);
  }

  #logLines(id: string, { tail, since }: LogQuery): LogLine[] {
    const lines = (this.logsHeld.get(id) ?? []).filter((line) => since === undefined || line.time >= since);
    return (tail === undefined ? lines : lines.slice(Math.max(0, lines.length - tail))).map((line) => ({ ...line }));
  }

  readonly logs = {
    read: async (id: string, query: LogQuery): Promise<LogRead> => {
      await this.#call('logs.read', id);
      return { lines: this.#find(id) ? this.#logLines(id, query) : [], leftOut: 0 };
    },
    follow: async (id: string, query: LogQuery, signal: AbortSignal): Promise<AsyncIterable<LogLine[]>> => {
      await this.#call('logs.follow', `${id} tail=${query.tail ?? 'all'} since=${query.since ?? '-'}`);
      const container = this.#existing(id);
      const stream = new PushQueue<LogLine[]>({ onEnd: () => this.#logStreams.get(id)?.delete(stream) });
      stream.push(this.#logLines(id, query));
      if (container.state !== 'running' && container.state !== 'paused') stream.end();
      else this.#logStreams.set(id, (this.#logStreams.get(id) ?? new Set()).add(stream));
      signal.addEventListener('abort', () => stream.end(), { once: true });
      return stream;
    },
  };

  readonly images = {
    list: async (): Promise<ImageSummary[]> => {
      await this.#call('images.list');
      const byId = new Map<string, string[]>();
      for (const [reference, id] of this.imageIds) byId.set(id, [...(byId.get(id) ?? []), reference]);
      return [...byId].map(([id, references]) => ({ id, references }));
    },
    inspect: async (reference: string): Promise<ImageDetails | undefined> => {
      await this.#call('images.inspect', reference);
      const id = this.imageIds.get(reference);
      return id === undefined ? undefined : { id };
    },
    /** Reads the archive as one reference a line, and adds each as an image. */
    load: async (archive: Readable): Promise<string[]> => {
      await this.#call('images.load');
      const references = (await text(archive)).split('\n').filter((line) => line !== '');
      for (const reference of references) this.addImage(reference);
      return references;
    },
  };

  readonly events = {
    stream: async (signal: AbortSignal): Promise<AsyncIterable<EngineEvent>> => {
      await this.#call('events.stream');
      const stream = new PushQueue<EngineEvent>();
      this.#streams.add(stream);
      signal.addEventListener('abort', () => {
        stream.end();
        this.#streams.delete(stream);
      }, { once: true });
      return stream;
    },
  };

  /** Open stats streams, each with its container id; a test feeds them with sendStats. */
  readonly #statsStreams = new Map<PushQueue<ContainerStats>, string>();

  readonly stats = {
    stream: async (containerId: string, signal: AbortSignal): Promise<AsyncIterable<ContainerStats>> => {
      await this.#call('stats.stream', containerId);
      const stream = new PushQueue<ContainerStats>({ onEnd: () => this.#statsStreams.delete(stream) });
      this.#statsStreams.set(stream, containerId);
      signal.addEventListener('abort', () => stream.end(), { once: true });
      return stream;
    },
  };

  /** Sends a reading to every open stats stream of the container. */
  sendStats(containerId: string, stats: Partial<ContainerStats> = {}): void {
    const reading = { cpuPercent: 0, memoryBytes: 0, memoryLimitBytes: 0, networkRxBytes: 0, networkTxBytes: 0, at: new Date(), ...stats };
    for (const [stream, id] of this.#statsStreams) if (id === containerId) stream.push(reading);
  }

  /** Ends the container's stats streams, as a broken connection does. */
  breakStatsStreams(containerId: string): void {
    for (const [stream, id] of this.#statsStreams) if (id === containerId) stream.end();
  }

  /** The container ids of the open stats streams, one per stream. */
  get openStatsStreams(): string[] {
    return [...this.#statsStreams.values()];
  }

  /** What the engine is in a swarm; undefined: in none. */
  swarmMembership: SwarmMembership | undefined = undefined;

  readonly system = {
    version: async () => {
      await this.#call('system.version');
      return { ...this.engineVersion };
    },
    ping: async () => {
      await this.#call('system.ping');
    },
    swarm: async () => {
      await this.#call('system.swarm');
      return this.swarmMembership && { ...this.swarmMembership };
    },
  };

  /** Swarm services by id with the specs they were made from, and the tasks and nodes the test sets. */
  readonly servicesHeld = new Map<string, { details: ServiceDetails; spec: ServiceSpec }>();
  tasksHeld: TaskDetails[] = [];
  nodesHeld: NodeDetails[] = [];

  readonly services = {
    list: async (labels: Record<string, string>) => {
      await this.#call('services.list');
      const matches = (held: Record<string, string>) => Object.entries(labels).every(([key, value]) => held[key] === value);
      return [...this.servicesHeld.values()].filter(({ details }) => matches(details.labels)).map(({ details }) => ({ ...details }));
    },
    inspect: async (idOrName: string) => {
      await this.#call('services.inspect', idOrName);
      const held = this.servicesHeld.get(idOrName) ?? [...this.servicesHeld.values()].find(({ details }) => details.name === idOrName);
      return held && { ...held.details };
    },
    create: async (spec: ServiceSpec) => {
      await this.#call('services.create', spec.Name);
      const id = `s${this.#nextId++}`.padEnd(25, '0');
      const details = { id, name: spec.Name, labels: spec.Labels ?? {}, version: 1, replicas: spec.Mode?.Replicated?.Replicas ?? 0, spec };
      this.servicesHeld.set(id, { details, spec });
      return id;
    },
    update: async (id: string, version: number, spec: ServiceSpec) => {
      await this.#call('services.update', id);
      const held = this.servicesHeld.get(id);
      if (!held || held.details.version !== version) throw toBerthError(Object.assign(new Error('update out of sequence'), { statusCode: held ? 500 : 404 }), `update service ${id}`);
      const details = { ...held.details, labels: spec.Labels ?? {}, version: version + 1, replicas: spec.Mode?.Replicated?.Replicas ?? 0, spec };
      this.servicesHeld.set(id, { details, spec });
    },
    rollback: async (id: string) => {
      await this.#call('services.rollback', id);
    },
    remove: async (id: string) => {
      await this.#call('services.remove', id);
      return this.servicesHeld.delete(id);
    },
    tasks: async ({ service }: { service?: string }) => {
      await this.#call('services.tasks', service);
      return this.tasksHeld.filter((task) => service === undefined || task.serviceId === service).map((task) => ({ ...task }));
    },
    nodes: async () => {
      await this.#call('services.nodes');
      return this.nodesHeld.map((node) => ({ ...node }));
    },
  };

  /** Networks and volumes by name, with their labels; and which networks each container joined. */
  readonly networksHeld = new Map<string, Record<string, string>>();
  readonly volumesHeld = new Map<string, Record<string, string>>();
  readonly joined = new Map<string, string[]>();

  /** The driver of each network held, when not bridge. */
  readonly networkDrivers = new Map<string, string>();

  readonly networks = {
    named: async (name: string) => {
      await this.#call('networks.named', name);
      const labels = this.networksHeld.get(name);
      return labels ? [{ id: name, name, labels: { ...labels }, created: new Date(0), driver: this.networkDrivers.get(name) ?? 'bridge' }] : [];
    },
    users: async (id: string) => {
      await this.#call('networks.users', id);
      return 0;
    },
    create: async (name: string, labels: Record<string, string>, { overlay = false } = {}) => {
      await this.#call('networks.create', overlay ? `${name} overlay` : name);
      if (!this.networksHeld.has(name)) this.networksHeld.set(name, labels);
      if (overlay) this.networkDrivers.set(name, 'overlay');
      return name;
    },
    remove: async (id: string) => {
      await this.#call('networks.remove', id);
      return this.networksHeld.delete(id);
    },
    connect: async (network: string, container: string) => {
      await this.#call('networks.connect', `${network} ${container}`);
      this.joined.set(container, [...(this.joined.get(container) ?? []), network]);
    },
  };

  /** Every pull asked for, in order; the test answers each (FakePull). */
  readonly pullsAsked: FakePull[] = [];

  readonly pulls = {
    pull: async (reference: string, auth: RegistryAuth | undefined, signal: AbortSignal): Promise<AsyncIterable<PullFrame>> => {
      await this.#call('pulls.pull', reference);
      const pull = new FakePull(reference, auth, () => this.addImage(reference));
      this.pullsAsked.push(pull);
      signal.addEventListener('abort', () => pull.fail('aborted'), { once: true });
      return pull.answer;
    },
  };

  readonly volumes = {
    inspect: async (name: string) => {
      await this.#call('volumes.inspect', name);
      const labels = this.volumesHeld.get(name);
      return labels && { id: name, name, labels: { ...labels } };
    },
    create: async (name: string, labels: Record<string, string>) => {
      await this.#call('volumes.create', name);
      if (!this.volumesHeld.has(name)) this.volumesHeld.set(name, labels);
    },
  };
}

/** A pull the test drives: the engine accepts or refuses it, sends frames, then completes it or fails in the stream. */
export class FakePull {
  readonly reference: string;
  readonly auth: RegistryAuth | undefined;
  readonly answer: Promise<AsyncIterable<PullFrame>>;
  readonly #frames = new PushQueue<PullFrame | Error>();
  readonly #addImage: () => void;
  #answer!: { resolve: (frames: AsyncIterable<PullFrame>) => void; reject: (error: Error) => void };

  constructor(reference: string, auth: RegistryAuth | undefined, addImage: () => void) {
    this.reference = reference;
    this.auth = auth;
    this.#addImage = addImage;
    this.answer = new Promise((resolve, reject) => (this.#answer = { resolve, reject }));
  }

  accept(): this {
    this.#answer.resolve(throwing(this.#frames));
    return this;
  }

  /** As a wrong password or a missing tag: the engine answers 404 or 500 before any frame. */
  refuse(message: string): void {
    this.#answer.reject(new BerthError('PULL_FAILED', `pulling "${this.reference}" failed: ${message}`));
  }

  frame(frame: PullFrame): this {
    this.#frames.push(frame);
    return this;
  }

  /** The image is on the engine (unless told otherwise) and the stream ends. */
  complete({ image = true } = {}): void {
    if (image) this.#addImage();
    this.#frames.end();
  }

  /** The engine's errorDetail line. */
  fail(message: string): void {
    this.#frames.push(new BerthError('PULL_FAILED', `pulling "${this.reference}" failed: ${message}`));
    this.#frames.end();
  }
}

async function* throwing(frames: AsyncIterable<PullFrame | Error>): AsyncGenerator<PullFrame> {
  for await (const frame of frames) {
    if (frame instanceof Error) throw frame;
    yield frame;
  }
}

export function containerEvent(container: ContainerDetails, action = 'start'): EngineEvent {
  return { type: 'container', action, id: container.id, attributes: { ...container.labels, name: container.name, ...(action === 'die' ? { exitCode: String(container.exitCode ?? 0) } : {}) }, time: new Date() };
}

/** The engine's event for a new verdict of the container's healthcheck: "health_status: healthy". */
export function healthEvent(container: ContainerDetails, health: ContainerHealth): EngineEvent {
  return { ...containerEvent(container, 'health_status'), detail: health };
}

/** What the watcher does on connecting: reads everything and hands it to the store. */
export async function sync(store: ModuleStore, engine: FakeEngine): Promise<void> {
  const { observations } = await new ModuleReader({ docker: engine, store, project }).everything({ full: true });
  for (const observation of observations) store.observe(observation);
  store.observe({ type: 'reachable', version: await engine.system.version() });
}

/** One local engine holding the modules' images, synced, behind a fleet in the modules' order. */
export async function localFleet(...specs: ModuleSpec[]): Promise<{ engine: FakeEngine; store: ModuleStore; modules: DockerModuleClient; fleet: Fleet }> {
  const engine = new FakeEngine();
  for (const spec of specs) engine.addImage(spec.image);
  const store = new ModuleStore({ config: berthConfig(...specs) });
  const logger = pino({ level: 'silent' });
  const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger });
  await sync(store, engine);
  const fleet = new Fleet([{ name: 'local', modules, store }], specs.map((spec) => spec.name));
  return { engine, store, modules, fleet };
}

export function handling(store: ModuleStore, module: string, handling: boolean): void {
  store.observe({ type: 'handling', module, handling });
}

/** Waits for a condition the code under test makes true, polling every 5 ms. */
export async function until(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
