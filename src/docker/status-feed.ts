import { FixedBuffer, Repeater } from '@repeaterjs/repeater';
import type { ContainerStatus } from './module-status.ts';
import type { DockerModuleClient } from './docker-module-client.ts';
import type { ModuleState } from './module-store.ts';

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
 * and it resubscribes with `initial` to start again from the current state.
 */
export function statusFeed(modules: DockerModuleClient, options: StatusFeedOptions): Repeater<StatusFeedItem> {
  const { names, initial = false, capacity = 1000, onOverflow } = options;
  const selected = modules.select(names);
  const wanted = new Set(selected.map((module) => module.spec.name));
  const held = new FixedBuffer(Math.max(capacity, selected.length));
  return new Repeater<StatusFeedItem>(async (push, stop) => {
    const send = (item: StatusFeedItem) => void push(item).catch(() => {});
    // The snapshot and the subscription are taken in one synchronous step: no change falls between them.
    const unsubscribe = modules.subscribe((change) => {
      if (!wanted.has(change.module.spec.name)) return;
      if (held.full) {
        unsubscribe();
        onOverflow?.();
        stop();
        return;
      }
      send(change);
    });
    if (initial) {
      const at = new Date();
      for (const module of selected) send({ module, previous: null, status: module.status, at });
    }
    await stop;
    unsubscribe();
  }, held);
}
