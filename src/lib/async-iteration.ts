// The async iteration helpers, together: each is a plain iterator rather than an async generator,
// because a generator's return() waits behind a pending next(), which for a quiet module may never
// settle, and the feed of a monitor that left would stay subscribed.

/** The result of an iterator that has ended; frozen, so that every stream can answer with it. */
export const iteratorDone: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

export interface PushQueueOptions<T = unknown> {
  /** Values held for a consumer that does not keep up, by weight; past that a push ends the queue, an offer is refused. Default: no bound. */
  capacity?: number;
  /** What one held value counts against the capacity; default 1, so that the capacity counts values. */
  weigh?: (value: T) => number;
  /** Called when a push finds the queue full, after which it has ended. */
  onOverflow?: () => void;
  /** Called once when the queue ends, however it ends: to release what feeds it. */
  onEnd?: () => void;
}

/**
 * A consumer the queue hands values to as they come, rather than through next(): one that writes them out
 * at once (a subscription delivered straight to its socket) and so costs no promise per value.
 */
export interface QueueFollower<T> {
  /** Whether it takes a value now; while it does not, the queue holds values, within its capacity, until resume(). */
  readonly ready: boolean;
  take(value: T): void;
  /** The queue has ended and handed over all it held. */
  ended(): void;
}

/** The default weight: the capacity counts values. One function for all queues, not a closure each. */
const countOne = () => 1;

/**
 * Values pushed by a producer, pulled by one consumer, written for fan-out: a value costs one iterator
 * result and at most one promise, and nothing for a follower (follow()). @repeaterjs/repeater chains several promises per pushed value, because
 * a value may itself be a promise: at 1,000 subscribers that was a quarter of the garbage a delivery left.
 */
export class PushQueue<T> implements AsyncIterableIterator<T, undefined> {
  /**
   * What is held, from #head on: a value read leaves a hole rather than shift the array, which costs as
   * many moves as values held (thousands, for a log a slow subscriber falls behind on).
   */
  #held: (T | undefined)[] = [];
  #head = 0;
  readonly #capacity: number;
  readonly #weigh: (value: T) => number;
  /** The weight of what is held. */
  #weight = 0;
  readonly #onOverflow: (() => void) | undefined;
  readonly #onEnd: (() => void) | undefined;
  /** next() calls waiting for a value, oldest first (a consumer that pulls one at a time has at most one). */
  readonly #waiting: ((result: IteratorResult<T, undefined>) => void)[] = [];
  #follower: QueueFollower<T> | undefined;
  #ended = false;

  constructor({ capacity = Infinity, weigh = countOne, onOverflow, onEnd }: PushQueueOptions<T> = {}) {
    this.#capacity = capacity;
    this.#weigh = weigh;
    this.#onOverflow = onOverflow;
    this.#onEnd = onEnd;
  }

  /** A full queue ends (after what it holds): for feeds where a gap would mislead, such as statuses. */
  push(value: T): void {
    if (this.#ended || this.#accept(value)) return;
    this.end();
    this.#onOverflow?.();
  }

  /** A full queue refuses the value (false) and stays open: for feeds that may drop and say so, such as a log. */
  offer(value: T): boolean {
    return !this.#ended && this.#accept(value);
  }

  #accept(value: T): boolean {
    const follower = this.#follower;
    if (follower && this.#head === this.#held.length && follower.ready) {
      follower.take(value);
      return true;
    }
    const waiting = this.#waiting.shift();
    if (waiting) {
      waiting({ value, done: false });
      return true;
    }
    const weight = this.#weigh(value);
    if (this.#weight + weight > this.#capacity) return false;
    this.#held.push(value);
    this.#weight += weight;
    return true;
  }

  /** No more values: the consumer gets what is held, then done. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const waiting of this.#waiting.splice(0)) waiting(iteratorDone);
    this.#onEnd?.();
    this.resume();
  }

  /**
   * From now on, values go to the follower as they come (those held first, in order) whenever it is ready,
   * and the queue holds them, within its capacity, while it is not. For one consumer that takes the place of next().
   */
  follow(follower: QueueFollower<T>): void {
    this.#follower = follower;
    this.resume();
  }

  /** The follower is ready again: it gets what is held, as long as it stays ready, and is told when the queue has ended. */
  resume(): void {
    const follower = this.#follower;
    if (!follower) return;
    while (this.#head < this.#held.length && follower.ready) {
      const value = this.#take();
      this.#weight -= this.#weigh(value);
      follower.take(value);
    }
    // take() may have ended the queue and told the follower already.
    if (this.#ended && this.#head === this.#held.length && this.#follower === follower) {
      this.#follower = undefined;
      follower.ended();
    }
  }

  next(): Promise<IteratorResult<T, undefined>> {
    if (this.#head < this.#held.length) {
      const value = this.#take();
      this.#weight -= this.#weigh(value);
      return Promise.resolve({ value, done: false });
    }
    if (this.#ended) return Promise.resolve(iteratorDone);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** The oldest value held; the holes it leaves are dropped once they are half the array. */
  #take(): T {
    const value = this.#held[this.#head] as T;
    this.#held[this.#head++] = undefined;
    if (this.#head === this.#held.length) {
      this.#held.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#held.length) {
      this.#held = this.#held.slice(this.#head);
      this.#head = 0;
    }
    return value;
  }

  /** The consumer leaves: what is held is dropped, and waiting next() calls answer done. */
  return(): Promise<IteratorResult<T, undefined>> {
    this.#held.length = 0;
    this.#head = 0;
    this.#weight = 0;
    this.end();
    return Promise.resolve(iteratorDone);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * Each value of the source mapped, synchronously or to a promise. return() reaches the source at once,
 * even while a next() waits. A mapping that throws ends the stream and releases the source, as
 * graphql-js does. `onDone` is called once when the stream is over: the source ended or failed, the
 * mapping threw, or the consumer returned. Written out rather than taken from @whatwg-node/promise-helpers:
 * its general mapper, which allows for asynchronous callbacks at each step, left 13% more garbage per delivery.
 */
export function mapIterator<T, U>(source: AsyncIterator<T>, map: (value: T) => U | Promise<U>, onDone: () => void = () => {}): AsyncIterableIterator<U> {
  return new MappedIterator(source, map, onDone);
}

/** mapIterator's stream: a class rather than closures, as every subscription holds one for its life. */
class MappedIterator<T, U> implements AsyncIterableIterator<U> {
  readonly #source: AsyncIterator<T>;
  readonly #map: (value: T) => U | Promise<U>;
  #onDone: (() => void) | undefined;

  constructor(source: AsyncIterator<T>, map: (value: T) => U | Promise<U>, onDone: () => void) {
    this.#source = source;
    this.#map = map;
    this.#onDone = onDone;
  }

  next(): Promise<IteratorResult<U>> {
    return this.#source.next().then(
      (result) => this.#step(result),
      (error: unknown) => {
        this.#finish();
        throw error;
      },
    );
  }

  return(): Promise<IteratorResult<U>> {
    this.#finish();
    return this.#source.return ? this.#source.return().then((result) => this.#step(result)) : Promise.resolve(iteratorDone);
  }

  throw(error: unknown): Promise<IteratorResult<U>> {
    this.#finish();
    return this.#source.throw ? this.#source.throw(error).then((result) => this.#step(result)) : Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  #finish(): void {
    const onDone = this.#onDone;
    this.#onDone = undefined;
    onDone?.();
  }

  #step(result: IteratorResult<T>): IteratorResult<U> | Promise<IteratorResult<U>> {
    if (result.done) {
      this.#finish();
      return result as IteratorResult<U>;
    }
    let value: U | Promise<U>;
    try {
      value = this.#map(result.value);
    } catch (error) {
      this.#finish();
      void this.#source.return?.();
      throw error;
    }
    return isPromiseLike(value) ? Promise.resolve(value).then((resolved) => ({ value: resolved, done: false })) : { value, done: false };
  }
}

function isPromiseLike<U>(value: U | Promise<U>): value is Promise<U> {
  return typeof (value as Partial<Promise<U>> | null)?.then === 'function';
}

/**
 * The source's values while `wanted()` holds, checked on every value and whenever `onChange` calls
 * back: then the source is returned (which answers its pending next() with done) and the stream ends.
 */
export function endWhen<T>(source: AsyncIterable<T>, wanted: () => boolean, onChange: (listener: () => void) => () => void): AsyncIterableIterator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let ended = false;
  let unsubscribe = () => {};
  const end = async (): Promise<IteratorReturnResult<undefined>> => {
    if (!ended) {
      ended = true;
      unsubscribe();
      await iterator.return?.();
    }
    return iteratorDone;
  };
  unsubscribe = onChange(() => {
    if (!wanted()) void end();
  });
  return {
    async next() {
      if (ended || !wanted()) return end();
      const next = await iterator.next();
      return next.done || ended || !wanted() ? end() : next;
    },
    return: end,
    async throw(error: unknown) {
      await end();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/**
 * A value that changes, for followers that want its latest state rather than every step (a pull's
 * progress): a follower that falls behind skips to the newest value, so it holds nothing of its own and
 * is never cut off for being slow. Every value set is handed out as it is: set a fresh object each time.
 */
export class LatestValue<T> {
  #value: T | undefined;
  #version = 0;
  readonly #waiting = new Set<() => void>();

  /** The last value set; undefined before the first. */
  get value(): T | undefined {
    return this.#value;
  }

  set(value: T): void {
    this.#value = value;
    this.#version++;
    for (const wake of this.#waiting) wake();
    this.#waiting.clear();
  }

  /**
   * The current value, when there is one, then each newer one as the follower asks; the stream ends after
   * a value that `last` holds true for. return() ends it at once, even while a next() waits.
   */
  follow(last: (value: T) => boolean = () => false): AsyncIterableIterator<T, undefined> {
    let seen = 0;
    let ended = false;
    let wake: (() => void) | undefined;
    const changed = () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        this.#waiting.add(resolve);
      });
    return {
      next: async () => {
        while (!ended && seen === this.#version) await changed();
        if (ended) return iteratorDone;
        seen = this.#version;
        const value = this.#value as T;
        ended = last(value);
        return { value, done: false };
      },
      return: () => {
        ended = true;
        if (wake) {
          this.#waiting.delete(wake);
          wake();
        }
        return Promise.resolve(iteratorDone);
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

/**
 * The values of every source as each arrives, until all have ended (or one failed: the stream ends then).
 * return() reaches every source at once. One source is answered as it is.
 */
export function mergeIterators<T>(sources: readonly AsyncIterator<T>[]): AsyncIterableIterator<T> {
  if (sources.length === 1) return sources[0] as AsyncIterableIterator<T>;
  let open = sources.length;
  const release = () => {
    for (const source of sources) void source.return?.()?.catch(() => {});
  };
  const merged = new PushQueue<T>({ onEnd: release });
  const pump = async (source: AsyncIterator<T>) => {
    for (let next = await source.next(); !next.done; next = await source.next()) merged.push(next.value);
  };
  for (const source of sources) {
    pump(source).then(
      () => {
        if (--open === 0) merged.end();
      },
      () => merged.end(),
    );
  }
  if (open === 0) merged.end();
  return merged;
}
