import type { ContainerStatus } from '../modules/module-status.ts';
import type { ModuleSource } from '../modules/fleet.ts';
import type { ModuleState } from '../modules/module-store.ts';
import type { PushQueue } from '../lib/async-iteration.ts';
import { moduleFeed, type FeedSource, type ModuleFeedOptions } from './module-feed.ts';

export interface StatusFeedItem {
  module: ModuleState;
  /** null in the opening snapshot. */
  previous: ContainerStatus | null;
  status: ContainerStatus;
  at: Date;
}

export type StatusFeedOptions = ModuleFeedOptions;

const statusChanges: FeedSource<StatusFeedItem> = {
  opening: (module, at) => ({ module, previous: null, status: module.status, at }),
  listen: (modules, listener) => modules.subscribe(listener),
  moduleOf: (change) => change.module,
};

/** One subscriber's status changes, bounded as every module feed is (moduleFeed). */
export function statusFeed(modules: ModuleSource, options: StatusFeedOptions): StatusFeed {
  return moduleFeed(modules, options, statusChanges);
}

export type StatusFeed = PushQueue<StatusFeedItem>;
