import { PushQueue } from '../lib/async-iteration.ts';
import type { ModuleSource } from '../modules/fleet.ts';
import type { ModuleState } from '../modules/module-store.ts';

export interface ModuleFeedOptions {
  /** Only these modules; all when undefined. Unknown names fail at once with MODULE_NOT_FOUND. */
  names?: readonly string[] | undefined;
  /** First deliver each selected module as it is now, so that a monitor starts without a race. */
  initial?: boolean;
  /** Items held for a subscriber that does not keep up; past that its feed ends. Default 1000. */
  capacity?: number;
  onOverflow?: () => void;
}

/** What a feed delivers, and from which of the store's listeners. */
export interface FeedSource<T> {
  /** The item that `initial` opens with for each selected module, all at the same `at`. */
  opening(module: ModuleState, at: Date): T;
  /** Listens to the store through the module client; answers how to stop. */
  listen(modules: ModuleSource, listener: (item: T) => void): () => void;
  moduleOf(item: T): ModuleState;
}

/**
 * One subscriber's items about the selected modules. It holds at most `capacity` undelivered items, so
 * that a slow subscriber neither slows the others nor grows memory without bound: past that its feed
 * ends, after what it holds, and it resubscribes with `initial` to start again from the current state.
 */
export function moduleFeed<T>(modules: ModuleSource, options: ModuleFeedOptions, source: FeedSource<T>): PushQueue<T> {
  const { names, initial = false, capacity = 1000, onOverflow } = options;
  const selected = modules.select(names);
  const wanted = names ? selectedNames(selected) : undefined;
  let unsubscribe = () => {};
  let unlistenRemoved = () => {};
  const feed = new PushQueue<T>({
    capacity: Math.max(capacity, selected.length),
    onOverflow,
    onEnd: () => {
      unsubscribe();
      unlistenRemoved();
    },
  });
  // The snapshot and the subscription are taken in one synchronous step: no change falls between them.
  if (initial) {
    const at = new Date();
    for (const module of selected) feed.push(source.opening(module, at));
  }
  // Without names, the feed follows docker.yaml: a module a reload adds comes in, one it removes goes quietly.
  // With names, the feed ends (after its last item) once a reload has removed one of them.
  unsubscribe = source.listen(modules, (item) => {
    if (!wanted || wanted.includes(source.moduleOf(item).spec.name)) feed.push(item);
  });
  if (wanted) {
    unlistenRemoved = modules.onModuleRemoved((name) => {
      if (wanted.includes(name)) feed.end();
    });
  }
  return feed;
}

/**
 * The names of the selected modules, to look each change's module up in: a monitor mostly names a few, and
 * a Set each cost thousands of monitors a quarter of a kilobyte apiece; a long list gets its Set.
 */
function selectedNames(selected: readonly ModuleState[]): { includes(name: string): boolean } {
  const names = selected.map((module) => module.spec.name);
  if (names.length <= 16) return names;
  const set = new Set(names);
  return { includes: (name) => set.has(name) };
}

const moduleChanges: FeedSource<ModuleState> = {
  // A copy: shared execution keys results by the event object, and the store's snapshot may be an event
  // already executed, whose fields that read other modules (dependsOn) have changed since.
  opening: (module) => ({ ...module }),
  listen: (modules, listener) => modules.onModuleChanged(listener),
  moduleOf: (module) => module,
};

/** The whole module each time anything a query could see of it changes. */
export function moduleChangedFeed(modules: ModuleSource, options: ModuleFeedOptions): PushQueue<ModuleState> {
  return moduleFeed(modules, options, moduleChanges);
}
