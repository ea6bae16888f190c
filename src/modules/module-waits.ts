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

/** A start berth asked of the engine: the container, when it was asked (ms since the epoch, berth's clock), and its start before. */
export interface StartAsked {
  id: string;
  askedAt: number;
  /** When the container last started before this start (the engine's clock), as berth knew it when it asked. */
  previousStart: number | undefined;
}

const notSeen = new Error('the start was not seen in time');

/**
 * Whether the store shows the start, within `timeoutMs`: the container started later than its start berth knew when it
 * asked, and not before it was asked, from the engine's own start event (the watcher hands it over as it comes) or a
 * read that began later. Two clocks meet here: the engine's, which dates starts, and berth's. The first test stands on
 * the engine's alone, so an engine whose clock runs ahead is never taken to show the start before its event; the
 * second keeps an event of an earlier start, still on its way, from being taken for this one (an engine behind
 * berth's clock only costs the wait, then the inspect). Only for a container whose healthcheck the store knows (read
 * before): no event tells it, and the module's health after the start depends on it. False at once while the engine is
 * marked unreachable: no event comes then.
 */
export async function startSeen(store: ModuleStore, name: string, { id, askedAt, previousStart = -Infinity }: StartAsked, timeoutMs: number): Promise<boolean> {
  const started = () => {
    const container = store.container(name);
    const startedAt = container?.startedAt?.getTime() ?? -Infinity;
    return container?.id === id && container.healthcheck !== undefined && startedAt > previousStart && startedAt >= askedAt;
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
