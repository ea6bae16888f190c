import type { ModuleState } from '../../modules/module-store.ts';
import { isStopped } from '../../modules/module-status.ts';
import { builder } from '../builder.ts';
import { ContainerStatusEnum } from './container-status.ts';
import { PortRef } from './port.ts';

export const ModuleRef = builder.objectRef<ModuleState>('Module').implement({
  description: 'A containerised platform module declared in docker.yaml.',
  fields: (t) => ({
    name: t.string({ resolve: (module) => module.spec.name }),
    kind: t.string({ resolve: (module) => module.spec.kind }),
    containerName: t.string({ resolve: (module) => module.spec.containerName }),
    image: t.string({ resolve: (module) => module.spec.image }),
    autostart: t.boolean({ resolve: (module) => module.spec.autostart }),
    status: t.field({ type: ContainerStatusEnum, resolve: (module) => module.status }),
    stopped: t.boolean({ description: 'NOT_CREATED or EXITED.', resolve: (module) => isStopped(module.status) }),
    ports: t.field({ type: [PortRef], resolve: (module) => module.spec.ports }),
    containerId: t.string({ nullable: true, resolve: (module) => module.containerId }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (module) => module.startedAt }),
    exitCode: t.int({ nullable: true, description: 'Set once the container has run and stopped.', resolve: (module) => module.exitCode }),
  }),
});

// Other subgraphs extend Module by its name; the gateway resolves references from the state store.
builder.asEntity(ModuleRef, {
  key: builder.selection<{ name: string }>('name'),
  resolveReference: ({ name }, { modules }) => modules.get(name),
});

builder.queryFields((t) => ({
  modules: t.field({
    type: [ModuleRef],
    args: { status: t.arg({ type: ContainerStatusEnum, required: false }) },
    resolve: (_root, { status }, { modules }) => modules.list(status ?? undefined),
  }),
  module: t.field({
    type: ModuleRef,
    description: 'The named module; an unknown name is a MODULE_NOT_FOUND error.',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }, { modules }) => modules.get(name),
  }),
}));

builder.mutationFields((t) => ({
  startModule: t.field({
    type: ModuleRef,
    description: 'Creates the container if needed and starts it; returns the module in its final status.',
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, { name }, { modules }) => modules.start(name),
  }),
  stopModule: t.field({
    type: ModuleRef,
    description: 'Stops the container, killing it after timeoutSeconds; returns the module in its final status.',
    args: {
      name: t.arg.string({ required: true }),
      timeoutSeconds: t.arg.int({ required: true, defaultValue: 10 }),
    },
    resolve: (_root, { name, timeoutSeconds }, { modules }) => modules.stop(name, timeoutSeconds),
  }),
  restartModule: t.field({
    type: ModuleRef,
    description:
      'Stops the container (killing it after timeoutSeconds) and starts it again, as one operation: HANDLING throughout, and nothing else runs on the module in between. Returns the module in its final status.',
    args: {
      name: t.arg.string({ required: true }),
      timeoutSeconds: t.arg.int({ required: true, defaultValue: 10 }),
    },
    resolve: (_root, { name, timeoutSeconds }, { modules }) => modules.restart(name, timeoutSeconds),
  }),
}));
