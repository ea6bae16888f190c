import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diffConfigs } from '../../src/config/config-diff.ts';
import type { DeploySpec } from '../../src/config/module-spec.ts';
import type { TaskDetails } from '../../src/engine/engine-types.ts';
import { EngineWatcher } from '../../src/modules/engine-watcher.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore, type ModuleState } from '../../src/modules/module-store.ts';
import { serviceSpec, type SwarmModuleSpec } from '../../src/modules/service-spec.ts';
import { berthConfig, FakeEngine, moduleSpec, project, until } from './fake-engine.ts';

const deploy: DeploySpec = { replicas: 2, placement: [], update: { parallelism: 1, delayNs: 0, order: 'stop-first', failureAction: 'rollback', maxFailureRatio: 0 } };
const web = moduleSpec('web', { deploy }) as SwarmModuleSpec;
const plain = moduleSpec('plain');

describe('EngineWatcher on a Swarm manager', () => {
  let engine: FakeEngine;
  let watcher: EngineWatcher | undefined;

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(web.image);
    engine.nodesHeld = [{ id: 'n1', role: 'manager', state: 'ready', availability: 'active' }];
  });
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  function watch(store: ModuleStore): void {
    const reader = new ModuleReader({ docker: engine, store, project });
    watcher = new EngineWatcher({ docker: engine, store, reader, logger: pino({ level: 'silent' }), initialBackoffMs: 5, maxBackoffMs: 20, watchdogMs: 50, resyncMs: 60_000, taskPollMs: 20 });
    watcher.start();
  }

  it('polls the tasks, with no event, and tells listeners of a change once', async () => {
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    const id = await engine.services.create(serviceSpec(project, web));
    const task = (name: string, state: TaskDetails['state']): TaskDetails => ({ id: name, serviceId: id, slot: 1, nodeId: 'n1', state, desiredState: 'running', at: new Date() });
    engine.tasksHeld = [task('t1', 'running'), task('t2', 'running')];
    const store = new ModuleStore({ config: berthConfig(web) });
    const changed: ModuleState[] = [];
    store.onModuleChanged((module) => changed.push(module));
    watch(store);
    await until(() => store.get('web')?.status === 'RUNNING', 'web RUNNING from the first sync');
    expect(store.get('web')!.replicas).toEqual({ desired: 2, running: 2 });

    engine.tasksHeld = [task('t1', 'running'), task('t2', 'failed'), task('t3', 'pending')];
    await until(() => store.get('web')?.status === 'HANDLING', 'web HANDLING from the poll');
    const polls = engine.calls.filter((call) => call.startsWith('services.tasks')).length;
    await until(() => engine.calls.filter((call) => call.startsWith('services.tasks')).length >= polls + 3, 'three more polls');
    expect(changed.map(({ status, replicas }) => `${status} ${replicas?.desired}/${replicas?.running}`)).toEqual(['HANDLING 2/1']);
  });

  it('asks an engine without Swarm modules nothing of Swarm', async () => {
    engine.addImage(plain.image);
    const store = new ModuleStore({ config: berthConfig(plain) });
    watch(store);
    await until(() => store.synced, 'the first sync');
    expect(engine.calls.filter((call) => call.startsWith('services.') || call === 'system.swarm')).toEqual([]);
  });

  it('reads no service on an engine that is not a manager: a Swarm module there is NOT_CREATED', async () => {
    engine.swarmMembership = undefined;
    const store = new ModuleStore({ config: berthConfig(web) });
    watch(store);
    await until(() => store.synced, 'the first sync');
    expect(store.get('web')).toMatchObject({ status: 'NOT_CREATED', replicas: { desired: 0, running: 0 } });
    expect(engine.calls.filter((call) => call.startsWith('services.'))).toEqual([]);
  });
  it('warns once when the task poll keeps failing, and follows the engine anew to ask whether it is still a manager', async () => {
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    const store = new ModuleStore({ config: berthConfig(web) });
    const warnings: string[] = [];
    const reader = new ModuleReader({ docker: engine, store, project });
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) });
    watcher = new EngineWatcher({ docker: engine, store, reader, logger, initialBackoffMs: 5, maxBackoffMs: 20, watchdogMs: 50, resyncMs: 60_000, taskPollMs: 10 });
    watcher.start();
    await until(() => store.synced, 'the first sync');
    const askedBefore = engine.calls.filter((call) => call === 'system.swarm').length;
    engine.fail('services.tasks', 500, 8);
    await until(() => engine.calls.filter((call) => call === 'system.swarm').length > askedBefore, 'the manager asked again');
    expect(warnings.filter((message) => message.startsWith('could not read the Swarm tasks'))).toHaveLength(1);
    // Its resync reads the tasks too: in sync again once they answer.
    await until(() => store.engine.reachable && engine.calls.filter((call) => call === 'services.tasks').length > 12, 'the engine in sync again');
  });

  // The watcher of an engine without Swarm modules asks for no service events and polls no tasks: a reload that
  // adds the first has it follow the engine anew (services.ts), and then it does.
  it('follows a Swarm module that a reload adds to an engine that had none, once refollowed: its tasks are polled', async () => {
    engine.swarmMembership = { nodeId: 'n1', manager: true };
    engine.addImage(plain.image);
    const id = await engine.services.create(serviceSpec(project, web));
    const task = (name: string, state: TaskDetails['state']): TaskDetails => ({ id: name, serviceId: id, slot: 1, nodeId: 'n1', state, desiredState: 'running', at: new Date() });
    engine.tasksHeld = [task('t1', 'running'), task('t2', 'running')];
    const store = new ModuleStore({ config: berthConfig(plain) });
    watch(store);
    await until(() => store.synced, 'the first sync');
    store.reconfigure(berthConfig(plain, web), diffConfigs(berthConfig(plain), berthConfig(plain, web)));
    watcher!.refollow();
    await until(() => store.get('web')?.status === 'RUNNING', 'web RUNNING after the reload');
    expect(store.engine.reachable).toBe(true);
    engine.tasksHeld = [task('t1', 'running'), task('t2', 'failed'), task('t3', 'pending')];
    await until(() => store.get('web')?.status === 'HANDLING', 'web HANDLING from the poll');
  });
});
