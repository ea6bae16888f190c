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
