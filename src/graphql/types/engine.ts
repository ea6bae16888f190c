import type { EngineState } from '../../modules/module-store.ts';
import type { NamedEngineState } from '../../modules/fleet.ts';
import { builder } from '../builder.ts';

const EngineRef = builder.objectRef<EngineState & { name?: string }>('Engine').implement({
  description: 'A Docker engine berth drives, as docker.yaml names it under engines (`local`: the one DOCKER_HOST names).',
  fields: (t) => ({
    name: t.string({ resolve: (engine) => engine.name ?? 'local' }),
    reachable: t.exposeBoolean('reachable', { description: 'False while the engine does not answer; its modules then show the last known state.' }),
    version: t.exposeString('version', { nullable: true }),
    apiVersion: t.exposeString('apiVersion', { nullable: true }),
  }),
});

builder.queryFields((t) => ({
  engine: t.field({
    type: EngineRef,
    deprecationReason: 'Use engines: berth drives every engine docker.yaml names.',
    description: 'The default engine, `local`.',
    resolve: (_root, _args, { modules }) => modules.engine,
  }),
  engines: t.field({
    type: [EngineRef],
    description: 'Every engine of docker.yaml, `local` first, whether or not a module runs on it.',
    resolve: (_root, _args, { modules }): NamedEngineState[] => modules.engines,
  }),
}));
