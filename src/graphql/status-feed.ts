import type { ContainerStatus } from '../modules/module-status.ts';
import type { DockerModuleClient } from '../modules/docker-module-client.ts';
import type { ModuleState, ModuleStatusChange } from '../modules/module-store.ts';
import { iteratorDone as done } from '../lib/async-iteration.ts';

export interface StatusFeedItem {
  module: ModuleState;
  /** null in the opening snapshot. */
  previous: ContainerStatus | null;
  status: ContainerStatus;
  at: Date;
}

export interface StatusFeedOptions {
  /** Only these modules; all when undefined. Unknown names fail at once with MODULE_NOT_FOUND. */
  names?: readonly string[] | undefined;
  /** First deliver each selected module's current status, so that a monitor starts without a race. */
  initial?: boolean;
  /** Changes held for a subscriber that does not keep up; past that its feed ends. Default 1000. */
  capacity?: number;
  onOverflow?: () => void;
}

/**
 * One subscriber's status changes. It holds at most `capacity` undelivered changes, so that a
 * slow subscriber neither slows the others nor grows memory without bound: past that its feed ends,
 * after what it holds, and it resubscribes with `initial` to start again from the current state.
 */
export function statusFeed(modules: DockerModuleClient, options: StatusFeedOptions): StatusFeed {
  return new StatusFeed(modules, options);
}

/**
 * A queue between the store's listener and one subscriber, written for fan-out: a change costs one
 * iterator result and at most one promise per subscriber. @repeaterjs/repeater, which this replaces,
 * chains several promises per pushed value, because a value may itself be a promise: at 1,000
 * subscribers that was a quarter of the garbage each delivery left (docs/benchmarks.md).
 */
export class StatusFeed implements AsyncIterableIterator<StatusFeedItem, undefined> {
  readonly #held: StatusFeedItem[] = [];
  readonly #capacity: number;
  readonly #onOverflow: (() => void) | undefined;
  readonly #unsubscribe: () => void;
  /** next() calls waiting for a change, oldest first (a consumer that pulls one at a time has at most one). */
  readonly #waiting: ((result: IteratorResult<StatusFeedItem, undefined>) => void)[] = [];
  #ended = false;

  constructor(modules: DockerModuleClient, { names, initial = false, capacity = 1000, onOverflow }: StatusFeedOptions) {
    const selected = modules.select(names);
    const wanted = new Set(selected.map((module) => module.spec.name));
    this.#capacity = Math.max(capacity, selected.length);
    this.#onOverflow = onOverflow;
    // The snapshot and the subscription are taken in one synchronous step: no change falls between them.
    if (initial) {
      const at = new Date();
      for (const module of selected) this.#held.push({ module, previous: null, status: module.status, at });
    }
    this.#unsubscribe = modules.subscribe((change) => {
      if (wanted.has(change.module.spec.name)) this.#offer(change);
    });
  }

  #offer(change: ModuleStatusChange): void {
    const waiting = this.#waiting.shift();
    if (waiting) {
      waiting({ value: change, done: false });
    } else if (this.#held.length < this.#capacity) {
      this.#held.push(change);
    } else {
      this.#end();
      this.#onOverflow?.();
    }
  }

  #end(): void {
    this.#ended = true;
    this.#unsubscribe();
  }

  next(): Promise<IteratorResult<StatusFeedItem, undefined>> {
    const item = this.#held.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.#ended) return Promise.resolve(done);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  return(): Promise<IteratorResult<StatusFeedItem, undefined>> {
    this.#end();
    this.#held.length = 0;
    for (const waiting of this.#waiting.splice(0)) waiting(done);
    return Promise.resolve(done);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
