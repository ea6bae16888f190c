// The soak's driver: random changes made outside berth on the engine, and berth's own starts and stops,
// over random modules, from a few workers at once, until it is paused for a quiet point.
import { setTimeout as sleep } from 'node:timers/promises';
import type Dockerode from 'dockerode';
import { ignoreNotFound, tagOwnImage, type SoakModule } from './soak-modules.ts';

export type ChangeKind = 'stop' | 'kill' | 'start' | 'rm' | 'rmi' | 'tag';
type BerthOperation = 'startModule' | 'stopModule';

export interface DriverOptions {
  /** A client of the soak's own engine. */
  docker: Dockerode;
  project: string;
  modules: SoakModule[];
  /** berth's /graphql endpoint. */
  graphqlUrl: string;
  /** Actions in flight at once; default 3. */
  workers?: number;
  /** Called when a berth mutation answers a status it should not end in, with the module's last actions. */
  onOddAnswer?: (module: string, history: string[]) => void;
}

export interface DriverCounts {
  /** Outside changes the engine accepted. */
  changes: Map<ChangeKind, number>;
  /** Outside changes not made, by why: nothing to change, the engine's status code, the engine unreachable. */
  notMade: Map<string, number>;
  /** berth's mutations by outcome: the status answered or the error code. */
  berth: Map<string, number>;
}

export interface Driver {
  counts: DriverCounts;
  /** The last actions on a module in the order they ended, each with when it began, to explain a mismatch. */
  history(module: string): string[];
  /** Resolves once no action is in flight; none starts until resume(). */
  pause(): Promise<void>;
  resume(): void;
  stop(): Promise<void>;
}

interface Action {
  kind: ChangeKind | BerthOperation;
  weight: number;
  /** Only for modules with an image tag of their own. */
  ownImageOnly?: boolean;
  /** An outside change answers whether there was anything to change; a berth operation answers its outcome. */
  run(module: SoakModule): Promise<boolean | string>;
}

const historyLength = 12;
const pauseBetweenActionsMs = { min: 200, max: 1000 };
const graphqlTimeoutMs = 90_000;

export function startDriver(options: DriverOptions): Driver {
  const counts: DriverCounts = { changes: new Map(), notMade: new Map(), berth: new Map() };
  const histories = new Map<string, string[]>();
  const actions = driverActions(options);
  const inFlight = new Set<Promise<void>>();
  let paused = false;
  let stopped = false;
  let resumed = Promise.withResolvers<void>();

  const remember = (module: SoakModule, line: string) => {
    const lines = histories.get(module.name) ?? [];
    lines.push(`${timeOfDay(new Date())} ${line}`);
    histories.set(module.name, lines.slice(-historyLength));
  };

  async function act(): Promise<void> {
    const action = pickWeighted(actions);
    const candidates = action.ownImageOnly ? options.modules.filter((module) => module.ownImage) : options.modules;
    const module = candidates[Math.floor(Math.random() * candidates.length)]!;
    const started = timeOfDay(new Date());
    const outcome = await action.run(module).catch(failureReason);
    const counted = countOutcome(counts, action.kind, outcome);
    remember(module, `${action.kind} (from ${started}): ${counted}`);
    // Later, so that the actions on the same module that were in flight meanwhile show too.
    const tell = () => options.onOddAnswer?.(module.name, histories.get(module.name)!);
    if (isOddAnswer(action.kind, outcome)) setTimeout(tell, 5_000).unref();
  }

  async function work(): Promise<void> {
    while (!stopped) {
      if (paused) {
        await resumed.promise;
        continue;
      }
      const action = act();
      inFlight.add(action);
      await action.finally(() => inFlight.delete(action));
      await sleep(pauseBetweenActionsMs.min + Math.random() * (pauseBetweenActionsMs.max - pauseBetweenActionsMs.min));
    }
  }

  const workers = Array.from({ length: options.workers ?? 3 }, () => work());
  return {
    counts,
    history: (module) => histories.get(module) ?? [],
    pause: async () => {
      paused = true;
      await Promise.allSettled([...inFlight]);
    },
    resume: () => {
      paused = false;
      resumed.resolve();
      resumed = Promise.withResolvers<void>();
    },
    stop: async () => {
      stopped = true;
      resumed.resolve();
      await Promise.allSettled(workers);
    },
  };
}

function driverActions({ docker, project, graphqlUrl }: DriverOptions): Action[] {
  /** Acts on one of the module's containers; false when it has none. */
  const onContainer = async (module: SoakModule, change: (container: Dockerode.Container) => Promise<unknown>) => {
    const filters = { label: [`berth.project=${project}`, `berth.module=${module.name}`] };
    const [container] = await docker.listContainers({ all: true, filters });
    if (!container) return false;
    await change(docker.getContainer(container.Id));
    return true;
  };
  return [
    { kind: 'start', weight: 3, run: (module) => onContainer(module, (container) => container.start()) },
    // The test image leaves on SIGTERM; t=1 bounds the stop all the same.
    { kind: 'stop', weight: 2, run: (module) => onContainer(module, (container) => container.stop({ t: 1 })) },
    { kind: 'kill', weight: 1, run: (module) => onContainer(module, (container) => container.kill()) },
    { kind: 'rm', weight: 1, run: (module) => onContainer(module, (container) => container.remove({ force: true })) },
    // The shared image keeps the layers: removing the module's own tag only untags.
    { kind: 'rmi', weight: 1, ownImageOnly: true, run: (module) => untag(docker, module) },
    { kind: 'tag', weight: 1, ownImageOnly: true, run: (module) => tagIfMissing(docker, module) },
    { kind: 'startModule', weight: 3, run: (module) => mutate(graphqlUrl, 'startModule(name: $name)', module.name) },
    {
      kind: 'stopModule',
      weight: 2,
      run: (module) => mutate(graphqlUrl, 'stopModule(name: $name, timeoutSeconds: 1)', module.name),
    },
  ];
}

async function untag(docker: Dockerode, module: SoakModule): Promise<true> {
  await docker.getImage(module.ownImage!).remove();
  return true;
}

async function tagIfMissing(docker: Dockerode, module: SoakModule): Promise<boolean> {
  const present = await docker.getImage(module.ownImage!).inspect().then(() => true, ignoreNotFound);
  if (present) return false;
  await tagOwnImage(docker, module);
  return true;
}

/** Runs one berth mutation; answers the module's status, or the error code. */
async function mutate(graphqlUrl: string, field: string, name: string): Promise<string> {
  const query = `mutation($name: String!) { result: ${field} { status } }`;
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables: { name } }),
    signal: AbortSignal.timeout(graphqlTimeoutMs),
  });
  const body = (await response.json()) as {
    data?: { result?: { status: string } } | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  const [error] = body.errors ?? [];
  if (error?.extensions?.code === 'ENGINE_ERROR') return `ENGINE_ERROR (${gist(error.message)})`;
  if (error) return error.extensions?.code ?? gist(error.message);
  return body.data?.result?.status ?? `HTTP ${response.status}`;
}

/** A message short and without ids, so that the same failure is counted under one key. */
function gist(message: string): string {
  return message.replace(/[0-9a-f]{12,}/g, '<id>').replace(/\s+/g, ' ').slice(0, 100);
}

function failureReason(error: unknown): string {
  const { statusCode, code, name, message, json } = error as {
    statusCode?: number;
    code?: string;
    name?: string;
    message?: string;
    json?: { message?: string };
  };
  // The engine's own words for a failure it did not expect; 304, 404 and 409 speak for themselves.
  if (statusCode && statusCode >= 500) return `HTTP ${statusCode} (${gist(json?.message ?? '')})`;
  if (statusCode) return `HTTP ${statusCode}`;
  if (name === 'TimeoutError') return 'timed out';
  // fetch wraps the socket's error: ECONNREFUSED while berth restarts.
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return code ?? cause ?? message ?? String(error);
}

function countOutcome(counts: DriverCounts, kind: Action['kind'], outcome: boolean | string): string {
  const add = <K>(map: Map<K, number>, key: K) => map.set(key, (map.get(key) ?? 0) + 1);
  if (kind === 'startModule' || kind === 'stopModule') {
    add(counts.berth, `${kind} ${outcome}`);
    return String(outcome);
  }
  if (outcome === true) {
    add(counts.changes, kind);
    return 'done';
  }
  const reason = outcome === false ? 'nothing to change' : outcome;
  add(counts.notMade, `${kind}: ${reason}`);
  return reason;
}

/** startModule ends RUNNING and stopModule stopped, or they answer an error: anything else is worth a look. */
function isOddAnswer(kind: Action['kind'], outcome: boolean | string): boolean {
  if (kind === 'startModule') return ['NOT_LOADED', 'NOT_CREATED', 'EXITED', 'HANDLING'].includes(String(outcome));
  if (kind === 'stopModule') return ['RUNNING', 'HANDLING'].includes(String(outcome));
  return false;
}

const timeOfDay = (date: Date) => date.toISOString().slice(11, 23);

function pickWeighted<T extends { weight: number }>(items: T[]): T {
  let ticket = Math.random() * items.reduce((sum, item) => sum + item.weight, 0);
  for (const item of items) {
    ticket -= item.weight;
    if (ticket < 0) return item;
  }
  return items.at(-1)!;
}
