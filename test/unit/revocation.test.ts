import { describe, expect, it } from 'vitest';
import { endWhenRevoked } from '../../src/auth/auth-plugin.ts';

/** A source like a quiet module's feed: next() waits until return() answers it with done. */
function quietSource() {
  const waiting: ((result: IteratorResult<string>) => void)[] = [];
  let returned = 0;
  const source: AsyncIterableIterator<string> = {
    next: () => new Promise((resolve) => waiting.push(resolve)),
    return: async () => {
      returned++;
      for (const resolve of waiting.splice(0)) resolve({ value: undefined, done: true });
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { source, returned: () => returned };
}

function grants() {
  const listeners = new Set<() => void>();
  return {
    granted: true,
    listeners,
    onChange: (listener: () => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

const settled = <T>(promise: Promise<T>) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve('pending'), 200))]);

describe('endWhenRevoked', () => {
  it('releases the source at once when the subscriber leaves while a next() waits', async () => {
    const { source, returned } = quietSource();
    const tokens = grants();
    const stream = endWhenRevoked(source, () => tokens.granted, tokens.onChange);
    const waiting = stream.next();
    await expect(settled(stream.return!())).resolves.toEqual({ value: undefined, done: true });
    await expect(settled(waiting)).resolves.toEqual({ value: undefined, done: true });
    expect(returned()).toBe(1);
    expect(tokens.listeners.size).toBe(0);
  });

  it('ends the stream and releases the source when the token is dropped', async () => {
    const { source, returned } = quietSource();
    const tokens = grants();
    const stream = endWhenRevoked(source, () => tokens.granted, tokens.onChange);
    const waiting = stream.next();
    tokens.granted = false;
    for (const listener of tokens.listeners) listener();
    await expect(settled(waiting)).resolves.toEqual({ value: undefined, done: true });
    expect(returned()).toBe(1);
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true });
    expect(tokens.listeners.size).toBe(0);
  });
});
