import type { ContainerStatus } from '../modules/module-status.ts';
import type { DockerModuleClient } from '../modules/docker-module-client.ts';
import type { ModuleState, ModuleStatusChange } from '../modules/module-store.ts';
import { PushQueue } from '../lib/async-iteration.ts';

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
export function statusFeed(modules: DockerModuleClient, { names, initial = false, capacity = 1000, onOverflow }: StatusFeedOptions): StatusFeed {
  const selected = modules.select(names);
  const wanted = new Set(selected.map((module) => module.spec.name));
  let unsubscribe = () => {};
  const feed = new PushQueue<StatusFeedItem>({ capacity: Math.max(capacity, selected.length), onOverflow, onEnd: () => unsubscribe() });
  // The snapshot and the subscription are taken in one synchronous step: no change falls between them.
  if (initial) {
    const at = new Date();
    for (const module of selected) feed.push({ module, previous: null, status: module.status, at });
  }
  unsubscribe = modules.subscribe((change: ModuleStatusChange) => {
    if (wanted.has(change.module.spec.name)) feed.push(change);
  });
  return feed;
}

export type StatusFeed = PushQueue<StatusFeedItem>;
