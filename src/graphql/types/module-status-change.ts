import { statusFeed, type StatusFeedItem } from '../status-feed.ts';
import { builder } from '../builder.ts';
import { ContainerStatusEnum } from './container-status.ts';
import { moduleFeedArgs, ModuleRef } from './module.ts';

const ModuleStatusChangeRef = builder.objectRef<StatusFeedItem>('ModuleStatusChange').implement({
  description: "A module's status as it changed on the engine, whoever changed it.",
  fields: (t) => ({
    module: t.field({ type: ModuleRef, resolve: (change) => change.module }),
    previous: t.field({
      type: ContainerStatusEnum,
      nullable: true,
      description: 'null in the opening snapshot that `initial: true` asks for.',
      resolve: (change) => change.previous,
    }),
    status: t.field({ type: ContainerStatusEnum, resolve: (change) => change.status }),
    at: t.field({ type: 'DateTime', resolve: (change) => change.at }),
  }),
});

builder.subscriptionField('moduleStatusChanged', (t) =>
  t.field({
    type: ModuleStatusChangeRef,
    description: 'Every status change of the named modules (all when names is omitted).',
    args: moduleFeedArgs,
    subscribe: (_root, { names, initial }, { modules }) => statusFeed(modules, { names: names ?? undefined, initial }),
    resolve: (change) => change,
  }),
);
