import { describe, expect, it } from 'vitest';
import { endWhen, LatestValue, mapIterator, PushQueue } from '../../src/lib/async-iteration.ts';

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

describe('endWhen', () => {
  it('releases the source at once when the subscriber leaves while a next() waits', async () => {
    const { source, returned } = quietSource();
    const tokens = grants();
    const stream = endWhen(source, () => tokens.granted, tokens.onChange);
    const waiting = stream.next();
    await expect(settled(stream.return!())).resolves.toEqual({ value: undefined, done: true });
    await expect(settled(waiting)).resolves.toEqual({ value: undefined, done: true });
    expect(returned()).toBe(1);
    expect(tokens.listeners.size).toBe(0);
  });

  it('ends the stream and releases the source when the token is dropped', async () => {
    const { source, returned } = quietSource();
    const tokens = grants();
    const stream = endWhen(source, () => tokens.granted, tokens.onChange);
    const waiting = stream.next();
    tokens.granted = false;
    for (const listener of tokens.listeners) listener();
    await expect(settled(waiting)).resolves.toEqual({ value: undefined, done: true });
    expect(returned()).toBe(1);
    await expect(stream.next()).resolves.toEqual({ value: undefined, done: true });
    expect(tokens.listeners.size).toBe(0);
  });
});

describe('PushQueue', () => {
  it('hands values to a waiting next() first, then holds them in order', async () => {
    const queue = new PushQueue<number>();
    const waiting = queue.next();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    expect(await waiting).toEqual({ value: 1, done: false });
    expect(await queue.next()).toEqual({ value: 2, done: false });
    expect(await queue.next()).toEqual({ value: 3, done: false });
  });

  it('answers every waiting next() when several wait', async () => {
    const queue = new PushQueue<string>();
    const [a, b] = [queue.next(), queue.next()];
    queue.push('a');
    queue.push('b');
    expect(await Promise.all([a, b])).toEqual([
      { value: 'a', done: false },
      { value: 'b', done: false },
    ]);
  });

  it('ends past its capacity, after what it holds, and says so once', async () => {
    const overflows: number[] = [];
    let ended = 0;
    const queue = new PushQueue<number>({ capacity: 2, onOverflow: () => overflows.push(1), onEnd: () => ended++ });
    for (const value of [1, 2, 3, 4]) queue.push(value);
    const values: number[] = [];
    for await (const value of queue) values.push(value);
    expect(values).toEqual([1, 2]);
    expect([overflows.length, ended]).toEqual([1, 1]);
  });

  it('hands values to a follower as they come, holds them within its capacity while it is not ready, and tells it once when all is handed over', () => {
    const taken: number[] = [];
    const events: string[] = [];
    const follower = { ready: true, take: (value: number) => taken.push(value), ended: () => events.push('ended') };
    const queue = new PushQueue<number>({ capacity: 2, onOverflow: () => events.push('overflow') });
    queue.push(1);
    queue.follow(follower);
    queue.push(2);
    follower.ready = false;
    for (const value of [3, 4, 5]) queue.push(value);
    expect([taken, events]).toEqual([[1, 2], ['overflow']]);
    follower.ready = true;
    queue.resume();
    queue.resume();
    expect([taken, events]).toEqual([[1, 2, 3, 4], ['overflow', 'ended']]);
  });

  it('refuses an offer past its capacity by weight and stays open, taking offers again once read', async () => {
    let ended = 0;
    const queue = new PushQueue<string>({ capacity: 6, weigh: (text) => text.length, onEnd: () => ended++ });
    expect(['abc', 'de', 'fgh', 'i'].map((text) => queue.offer(text))).toEqual([true, true, false, true]);
    expect(await queue.next()).toEqual({ value: 'abc', done: false });
    expect(queue.offer('jk')).toBe(true);
    expect(queue.offer('lm')).toBe(false);
    const waiting = [queue.next(), queue.next(), queue.next(), queue.next()];
    expect(queue.offer('a waiting reader takes any weight')).toBe(true);
    expect((await Promise.all(waiting)).map((result) => result.value)).toEqual(['de', 'i', 'jk', 'a waiting reader takes any weight']);
    expect(ended).toBe(0);
    queue.end();
    expect(queue.offer('m')).toBe(false);
  });

  it('keeps thousands of held values in order while a slow consumer reads and the producer pushes in between', async () => {
    const queue = new PushQueue<number>({ capacity: 6_000 });
    const read: number[] = [];
    const take = async (count: number) => {
      for (let index = 0; index < count; index++) read.push((await queue.next()).value!);
    };
    for (let value = 0; value < 5_000; value++) queue.push(value);
    await take(3_000);
    for (let value = 5_000; value < 9_000; value++) queue.push(value);
    await take(6_000);
    queue.push(9_000);
    await take(1);
    expect(read).toEqual(Array.from({ length: 9_001 }, (_, index) => index));
    expect(queue.offer(1)).toBe(true);
  });

  it('drops what it holds and answers waiting calls with done on return(), ending once', async () => {
    let ended = 0;
    const queue = new PushQueue<number>({ onEnd: () => ended++ });
    queue.push(1);
    await queue.return();
    expect(await queue.next()).toEqual({ value: undefined, done: true });
    const other = new PushQueue<number>({ onEnd: () => ended++ });
    const waiting = other.next();
    await other.return();
    await other.return();
    expect(await waiting).toEqual({ value: undefined, done: true });
    other.push(2);
    expect(await other.next()).toEqual({ value: undefined, done: true });
    expect(ended).toBe(2);
  });
});

describe('mapIterator', () => {
  it('calls onDone once when the stream is over: the source ended or failed, the mapping threw, or the consumer returned', async () => {
    const done: string[] = [];
    const ending = mapIterator((async function* () { yield 1; })(), (value) => value, () => done.push('ended'));
    await ending.next();
    await ending.next();
    await ending.return!();
    const broken: AsyncIterator<number> = { next: () => Promise.reject(new Error('broken')) };
    const failing = mapIterator(broken, (value) => value, () => done.push('failed'));
    await expect(failing.next()).rejects.toThrow('broken');
    const throwing = mapIterator((async function* () { yield 1; })(), () => { throw new Error('mapping'); }, () => done.push('threw'));
    await expect(throwing.next()).rejects.toThrow('mapping');
    const { source } = quietSource();
    const returned = mapIterator(source, (value) => value, () => done.push('returned'));
    const waiting = returned.next();
    await returned.return!();
    await waiting;
    expect(done).toEqual(['ended', 'failed', 'threw', 'returned']);
  });

  it('maps values synchronously or through promises, and ends with the source', async () => {
    const source = new PushQueue<number>();
    const mapped = mapIterator(source, (value) => (value % 2 === 0 ? Promise.resolve(value * 10) : value * 10));
    source.push(1);
    source.push(2);
    source.end();
    const values: number[] = [];
    for await (const value of mapped) values.push(value);
    expect(values).toEqual([10, 20]);
  });

  it('releases the source at once on return() while a next() waits', async () => {
    const { source, returned } = quietSource();
    const mapped = mapIterator(source, (value) => value);
    const pending = mapped.next();
    await mapped.return!();
    expect(await settled(pending)).toEqual({ value: undefined, done: true });
    expect(returned()).toBe(1);
  });

  it('rejects, releases the source and ends when the mapping throws', async () => {
    let returned = 0;
    const source = new PushQueue<string>({ onEnd: () => returned++ });
    const mapped = mapIterator(source, () => {
      throw new Error('bad mapping');
    });
    source.push('x');
    await expect(mapped.next()).rejects.toThrow('bad mapping');
    expect(returned).toBe(1);
    expect(await source.next()).toEqual({ value: undefined, done: true });
  });
});

describe('LatestValue', () => {
  const value = (n: number, last = false) => ({ n, last });
  const isLast = (item: { last: boolean }) => item.last;

  it('waits for a first value, then hands each newer one to a follower that keeps up', async () => {
    const latest = new LatestValue<{ n: number; last: boolean }>();
    const follower = latest.follow(isLast);
    const first = follower.next();
    expect(await settled(first)).toBe('pending');
    latest.set(value(1));
    expect(await first).toEqual({ value: value(1), done: false });
    const second = follower.next();
    latest.set(value(2));
    expect(await second).toEqual({ value: value(2), done: false });
  });

  it('skips a slow follower to the newest value, the very object set, and ends after the last', async () => {
    const latest = new LatestValue<{ n: number; last: boolean }>();
    const follower = latest.follow(isLast);
    latest.set(value(1));
    const newest = value(3, true);
    latest.set(value(2));
    latest.set(newest);
    const result = await follower.next();
    expect(result.value).toBe(newest);
    expect(await follower.next()).toEqual({ value: undefined, done: true });
  });

  it('opens with the current value: after the last one, a new follower gets it and ends', async () => {
    const latest = new LatestValue<{ n: number; last: boolean }>();
    latest.set(value(1, true));
    const follower = latest.follow(isLast);
    expect(await follower.next()).toEqual({ value: value(1, true), done: false });
    expect(await follower.next()).toEqual({ value: undefined, done: true });
    expect(latest.value).toEqual(value(1, true));
  });

  it('ends at once on return() while a next() waits, and stops waking that follower', async () => {
    const latest = new LatestValue<{ n: number; last: boolean }>();
    const follower = latest.follow();
    const waiting = follower.next();
    await expect(settled(follower.return!())).resolves.toEqual({ value: undefined, done: true });
    await expect(settled(waiting)).resolves.toEqual({ value: undefined, done: true });
    latest.set(value(1));
    expect(await follower.next()).toEqual({ value: undefined, done: true });
  });

  it('gives every follower the same object for the same value', async () => {
    const latest = new LatestValue<{ n: number; last: boolean }>();
    const [a, b] = [latest.follow(), latest.follow()];
    latest.set(value(1));
    expect((await a.next()).value).toBe((await b.next()).value);
  });
});
