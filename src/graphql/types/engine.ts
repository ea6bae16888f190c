import type { EngineState } from '../../modules/module-store.ts';
import { builder } from '../builder.ts';

const EngineRef = builder.objectRef<EngineState>('Engine').implement({
  description: 'The Docker engine berth follows.',
  fields: (t) => ({
    reachable: t.exposeBoolean('reachable', { description: 'False while the engine does not answer; queries then show the last known state.' }),
    version: t.exposeString('version', { nullable: true }),
    apiVersion: t.exposeString('apiVersion', { nullable: true }),
  }),
});

builder.queryField('engine', (t) => t.field({ type: EngineRef, resolve: (_root, _args, { modules }) => modules.engine }));
