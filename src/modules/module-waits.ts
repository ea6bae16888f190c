import type { ModuleState, ModuleStore } from './module-store.ts';

/**
 * Resolves once `check` answers true for the module, asked now and at each change of it; rejects with
 * what `check` throws (it never will be), or with `late()` after `timeoutMs`.
 */
export function untilModule(store: ModuleStore, name: string, timeoutMs: number, check: (state: ModuleState) => boolean, late: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: unknown) => {
      stop();
      clearTimeout(timer);
      if (error) reject(error);
      else resolve();
    };
    const ask = (state: ModuleState) => {
      try {
        if (check(state)) settle();
      } catch (error) {
        settle(error);
      }
    };
    const stop = store.onModuleChanged((state) => {
      if (state.spec.name === name) ask(state);
    });
    const timer = setTimeout(() => settle(late()), timeoutMs);
    ask(store.get(name)!);
  });
}

/** A start berth asked of the engine: the container, and when it was asked (ms since the epoch, berth's clock). */
export interface StartAsked {
  id: string;
  askedAt: number;
}

const notSeen = new Error('the start was not seen in time');

/**
 * Whether the store shows the start, within `timeoutMs`: the container started at or after it was asked, from
 * the engine's own start event (the watcher hands it over as it comes) or a read that began later. An event of an
 * earlier start, still on its way, has an earlier time and is not taken for it (the engine's clock is berth's on
 * the same host; one behind berth's only costs the wait). Only for a container whose healthcheck the store knows
 * (read before): no event tells it, and the module's health after the start depends on it. False at once while
 * the engine is marked unreachable: no event comes then.
 */
export async function startSeen(store: ModuleStore, name: string, { id, askedAt }: StartAsked, timeoutMs: number): Promise<boolean> {
  const started = () => {
    const container = store.container(name);
    return container?.id === id && container.healthcheck !== undefined && (container.startedAt?.getTime() ?? -Infinity) >= askedAt;
  };
  const known = store.container(name);
  if (!store.engine.reachable || known?.id !== id || known.healthcheck === undefined) return false;
  return untilModule(store, name, timeoutMs, started, () => notSeen).then(
    () => true,
    (error: unknown) => {
      if (error === notSeen) return false;
      throw error;
    },
  );
}
