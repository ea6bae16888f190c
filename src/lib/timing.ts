import { setTimeout as sleep } from 'node:timers/promises';

/** The delay before retry number `failures` (from 0): doubling from `initialMs`, with ±20% jitter, never past `maxMs`. */
export function backoffDelay(failures: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** failures * (0.8 + Math.random() * 0.4));
}

/** The promise's value, or `fallback` when it has not settled within `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, fallback, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/** Waits `ms`, or less when a signal aborts; never throws. */
export async function pause(ms: number, ...signals: AbortSignal[]): Promise<void> {
  await sleep(ms, undefined, { signal: AbortSignal.any(signals) }).catch(() => {});
}

/** A call that is run once, `ms` after the last of a burst of requests: each request in the burst pushes it back. */
export interface Debounced {
  (): void;
  cancel(): void;
}

export function debounce(run: () => void, ms: number): Debounced {
  let timer: NodeJS.Timeout | undefined;
  const debounced = () => {
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
  debounced.cancel = () => clearTimeout(timer);
  return debounced;
}
