import { operatorOnly } from '../../auth/auth-plugin.ts';
import type { ModuleStats } from '../../modules/module-stats.ts';
import { builder } from '../builder.ts';
import { ModuleRef } from './module.ts';

const ModuleStatsRef = builder.objectRef<ModuleStats>('ModuleStats').implement({
  description: "One reading of a running module's container, computed as `docker stats` computes it.",
  fields: (t) => ({
    module: t.field({ type: ModuleRef, resolve: (stats) => stats.module }),
    cpuPercent: t.float({
      description: 'CPU time used since the previous reading, about a second before, in percent of one CPU: 200 is two CPUs busy.',
      resolve: (stats) => stats.cpuPercent,
    }),
    memoryBytes: t.field({ type: 'SafeInt', description: 'Memory in use, less the inactive file cache the kernel reclaims first.', resolve: (stats) => stats.memoryBytes }),
    memoryLimitBytes: t.field({ type: 'SafeInt', description: "The container's memory limit; without one, the host's memory.", resolve: (stats) => stats.memoryLimitBytes }),
    networkRxBytes: t.field({ type: 'SafeInt', description: 'Received over all its interfaces since the container started.', resolve: (stats) => stats.networkRxBytes }),
    networkTxBytes: t.field({ type: 'SafeInt', description: 'Sent over all its interfaces since the container started.', resolve: (stats) => stats.networkTxBytes }),
    at: t.field({ type: 'DateTime', description: 'When the engine took the reading.', resolve: (stats) => stats.at }),
  }),
});

builder.subscriptionField('moduleStats', (t) =>
  t.field({
    type: ModuleStatsRef,
    description:
      "About one reading a second of each named module (all when names is omitted) while it runs: nothing while a module does not run, and readings from its next start on. One engine stream per module, whatever the number of subscribers. Operators only.",
    extensions: operatorOnly,
    args: { names: t.arg.stringList({ required: false, description: 'Only these modules; all when omitted. An unknown name is MODULE_NOT_FOUND.' }) },
    subscribe: (_root, { names }, { modules }) => modules.stats(names ?? undefined),
    resolve: (stats) => stats,
  }),
);
