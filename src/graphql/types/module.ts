import type { ModuleState } from '../../modules/module-store.ts';
import { isStopped } from '../../modules/module-status.ts';
import { builder } from '../builder.ts';
import { moduleChangedFeed } from '../module-feed.ts';
import { ContainerStatusEnum } from './container-status.ts';
import { HealthStatusEnum } from './health-status.ts';
import { PortRef } from './port.ts';

const ReplicasRef = builder.objectRef<NonNullable<ModuleState['replicas']>>('Replicas').implement({
  description: "A Swarm module's tasks (docker.yaml's deploy:).",
  fields: (t) => ({
    desired: t.exposeInt('desired', { description: 'How many tasks its service wants: deploy.replicas once started, 0 once stopped.' }),
    running: t.exposeInt('running', { description: 'How many run, on nodes that are up.' }),
  }),
});

export const ModuleRef = builder.objectRef<ModuleState>('Module').implement({
  description: 'A containerised platform module declared in docker.yaml.',
  fields: (t) => ({
    name: t.string({ resolve: (module) => module.spec.name }),
    kind: t.string({ resolve: (module) => module.spec.kind }),
    containerName: t.string({ resolve: (module) => module.spec.containerName }),
    image: t.string({ resolve: (module) => module.spec.image }),
    engine: t.string({ description: 'The engine it runs on, by its name under docker.yaml\'s engines (`local` by default); see engines.', resolve: (module) => module.spec.engine }),
    autostart: t.boolean({ resolve: (module) => module.spec.autostart }),
    status: t.field({ type: ContainerStatusEnum, resolve: (module) => module.status }),
    stopped: t.boolean({ description: 'NOT_CREATED or EXITED.', resolve: (module) => isStopped(module.status) }),
    health: t.field({
      type: HealthStatusEnum,
      description: "The container's healthcheck as the engine reports it, docker.yaml's or the image's.",
      resolve: (module) => module.health,
    }),
    ports: t.field({ type: [PortRef], resolve: (module) => module.spec.ports }),
    containerId: t.string({ nullable: true, resolve: (module) => module.containerId }),
    startedAt: t.field({ type: 'DateTime', nullable: true, resolve: (module) => module.startedAt }),
    exitCode: t.int({ nullable: true, description: 'Set once the container has run and stopped.', resolve: (module) => module.exitCode }),
    replicas: t.field({
      type: ReplicasRef,
      nullable: true,
      description: "A Swarm module's replicas, { 0, 0 } before its service exists; null for a module that runs as one container.",
      resolve: (module) => module.replicas,
    }),
    drift: t.stringList({
      description:
        'What differs between the container (a Swarm module\'s service) and docker.yaml, by field, sorted: image, imageId (the reference now names another image), envs.NAME (names only), ports.NAME, volumes, command, entrypoint, user, workdir, restart, resources, healthcheck, networks, containerName, deploy (a Swarm module\'s replicas, placement or update); spec for a container made by an older berth, which recorded no digest per field (which field is not known). Empty when up to date, and without a container. applyModule recreates the container from docker.yaml.',
      resolve: (module) => module.drift,
    }),
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
  startModules: t.field({
    type: [ModuleRef],
    nullable: { list: false, items: true },
    description:
      'Starts each named module as startModule does, independent ones at once and each after its dependencies. Answers the modules in the order named; a module that failed is null, with its error at its index.',
    args: { names: t.arg.stringList({ required: true }) },
    resolve: (_root, { names }, { modules }) => eachSettled(modules.startMany(names)),
  }),
  stopModules: t.field({
    type: [ModuleRef],
    nullable: { list: false, items: true },
    description:
      'Stops each named module, those that depend on others of the batch first. Answers the modules in the order named; a module that failed is null, with its error at its index.',
    args: {
      names: t.arg.stringList({ required: true }),
      timeoutSeconds: t.arg.int({ required: true, defaultValue: 10 }),
    },
    resolve: (_root, { names, timeoutSeconds }, { modules }) => eachSettled(modules.stopMany(names, timeoutSeconds)),
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
  applyModule: t.field({
    type: ModuleRef,
    description:
      "Recreates a drifted module's container from docker.yaml, running or not as it was; without drift, answers the module untouched. The old container waits aside (stopped, renamed <container>-berth-previous) until the new one runs and, with a healthcheck, is healthy within BERTH_UPDATE_TIMEOUT_SECONDS; otherwise the new one is removed, the old one restored and started, and the mutation fails with UPDATE_ROLLED_BACK and the reason. timeoutSeconds: how long the old container gets to stop before it is killed.",
    args: {
      name: t.arg.string({ required: true }),
      timeoutSeconds: t.arg.int({ required: true, defaultValue: 10 }),
    },
    resolve: (_root, { name, timeoutSeconds }, { modules }) => modules.apply(name, { timeoutSeconds }),
  }),
}));

/** The arguments of every subscription that follows modules (moduleFeed). */
export const moduleFeedArgs = builder.args((t) => ({
  names: t.stringList({ required: false, description: 'Only these modules; all when omitted. An unknown name is MODULE_NOT_FOUND.' }),
  initial: t.boolean({ required: true, defaultValue: false, description: 'First deliver each selected module as it is now.' }),
}));

builder.subscriptionField('moduleChanged', (t) =>
  t.field({
    type: ModuleRef,
    description: 'The whole module each time anything a query could see of it changes: status, health, container, start time, exit code or drift.',
    args: moduleFeedArgs,
    subscribe: (_root, { names, initial }, { modules }) => moduleChangedFeed(modules, { names: names ?? undefined, initial }),
    resolve: (module) => module,
  }),
);

/** Every operation of a batch settled: a failure stays in its place as an Error, which GraphQL reports at that index. */
async function eachSettled(operations: Promise<ModuleState>[]): Promise<ModuleState[]> {
  return Promise.all(operations.map((operation) => operation.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))) as never)));
}
