import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeploySpec } from '../../src/config/module-spec.ts';
import type { NodeDetails, ServiceDetails, TaskDetails, TaskState } from '../../src/engine/engine-types.ts';
import { moduleLabels, swarmTaskLabel } from '../../src/modules/container-spec.ts';
import { ModuleStore, type ModuleState, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { serviceSpec, type SwarmModuleSpec } from '../../src/modules/service-spec.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const deploy: DeploySpec = { replicas: 2, placement: [], update: { parallelism: 1, delayNs: 0, order: 'stop-first', failureAction: 'rollback', maxFailureRatio: 0 } };
const web = moduleSpec('web', { deploy }) as SwarmModuleSpec;
const plain = moduleSpec('plain');
const nodes: NodeDetails[] = [{ id: 'n1', role: 'manager', state: 'ready', availability: 'active' }];

function service(replicas: number, spec: SwarmModuleSpec = web): ServiceDetails {
  const made = serviceSpec(project, spec, replicas);
  return { id: 'svc1', name: spec.containerName, labels: made.Labels ?? {}, version: 3, replicas, spec: made };
}

const task = (id: string, state: TaskState, desiredState: TaskState = 'running'): TaskDetails => ({ id, serviceId: 'svc1', slot: 1, nodeId: 'n1', state, desiredState, at: new Date() });

describe('ModuleStore, Swarm modules', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let changes: ModuleStatusChange[];
  let changed: ModuleState[];

  beforeEach(async () => {
    docker = new FakeEngine();
    docker.addImage(web.image);
    store = new ModuleStore({ config: berthConfig(web, plain), logger: pino({ level: 'silent' }) });
    await sync(store, docker);
    changes = [];
    changed = [];
    store.subscribe((change) => changes.push(change));
    store.onModuleChanged((module) => changed.push(module));
  });

  const observeService = (replicas: number, tasks: TaskDetails[]) => store.observe({ type: 'service', module: 'web', service: service(replicas), tasks, nodes, since: store.mark() });
  const poll = (tasks: TaskDetails[]) => store.observe({ type: 'tasks', tasks, since: store.mark() });

  it('shows a Swarm module without a service as NOT_CREATED with replicas { 0, 0 }, a container module with none', () => {
    expect(store.get('web')).toMatchObject({ status: 'NOT_CREATED', replicas: { desired: 0, running: 0 }, drift: [], containerId: undefined });
    expect(store.get('plain')!.replicas).toBeNull();
    expect(store.swarm).toBe(true);
  });

  it('takes its status and replicas from its service and tasks, and tells listeners once per real change', () => {
    observeService(2, [task('t1', 'running'), task('t2', 'running')]);
    expect(store.get('web')).toMatchObject({ status: 'RUNNING', replicas: { desired: 2, running: 2 }, drift: [] });
    poll([task('t1', 'running'), task('t2', 'running')]);
    poll([task('t1', 'running'), task('t2', 'failed'), task('t3', 'pending')]);
    poll([task('t1', 'running'), task('t2', 'failed'), task('t3', 'pending')]);
    expect(store.get('web')).toMatchObject({ status: 'HANDLING', replicas: { desired: 2, running: 1 } });
    poll([task('t1', 'running'), task('t2', 'failed', 'shutdown'), task('t3', 'running')]);
    expect(changes.map(({ previous, status }) => `${previous}>${status}`)).toEqual(['NOT_CREATED>RUNNING', 'RUNNING>HANDLING', 'HANDLING>RUNNING']);
    expect(changed.map(({ status, replicas }) => `${status} ${replicas?.desired}/${replicas?.running}`)).toEqual(['RUNNING 2/2', 'HANDLING 2/1', 'RUNNING 2/2']);
  });

  it('tells listeners of a change of replicas alone', () => {
    observeService(2, [task('t1', 'running'), task('t2', 'running')]);
    observeService(1, [task('t1', 'running'), task('t2', 'shutdown', 'shutdown')]);
    expect(changes.map(({ status }) => status)).toEqual(['RUNNING']);
    expect(changed.map(({ status, replicas }) => `${status} ${replicas?.desired}/${replicas?.running}`)).toEqual(['RUNNING 2/2', 'RUNNING 1/1']);
  });

  it('keeps a read of the service that began after the poll', () => {
    const since = store.mark();
    observeService(2, [task('t1', 'running'), task('t2', 'running')]);
    store.observe({ type: 'tasks', tasks: [task('t1', 'running')], since });
    expect(store.get('web')!.replicas).toEqual({ desired: 2, running: 2 });
  });

  it('takes the service of a read that began before a poll that answered first: only the poll\'s tasks are newer', () => {
    observeService(2, [task('t1', 'running'), task('t2', 'running')]);
    // An outside scale to 1: its event's read begins, then a poll begins and answers first.
    const since = store.mark();
    poll([task('t1', 'running'), task('t2', 'shutdown', 'shutdown')]);
    store.observe({ type: 'service', module: 'web', service: service(1), tasks: [task('t1', 'running'), task('t2', 'running', 'shutdown')], nodes, since });
    expect(store.get('web')).toMatchObject({ status: 'RUNNING', replicas: { desired: 1, running: 1 } });
  });

  it('shows a changed deploy: as drift, from the service\'s labels', () => {
    observeService(2, [task('t1', 'running'), task('t2', 'running')]);
    store.reconfigure(berthConfig({ ...web, deploy: { ...deploy, placement: ['node.role==worker'] } }, plain), { added: [], removed: [], changed: ['web'] });
    expect(store.get('web')!.drift).toEqual(['deploy']);
  });

  it('reads the service again on its events, every Swarm module on a node event, and its task containers\' events', () => {
    const at = new Date();
    expect(store.observe({ type: 'event', event: { type: 'service', action: 'update', id: 'svc1', attributes: { name: web.containerName }, time: at } }).reread).toEqual(['web']);
    expect(store.observe({ type: 'event', event: { type: 'service', action: 'update', id: 'x', attributes: { name: plain.containerName }, time: at } }).reread).toEqual([]);
    expect(store.observe({ type: 'event', event: { type: 'node', action: 'update', id: 'n2', attributes: {}, time: at } }).reread).toEqual(['web']);
    const taskContainer = docker.addContainer(web, 'running', { ...moduleLabels(project, web), [swarmTaskLabel]: 't1' });
    expect(store.observe({ type: 'event', event: containerEvent(taskContainer, 'die') })).toEqual({ changes: [], reread: ['web'], recheck: [] });
    expect(store.get('web')!.containerId).toBeUndefined();
  });

  it('never takes a Swarm task\'s container, which carries berth\'s labels, for a module\'s own', async () => {
    docker.addContainer(plain, 'running', { ...moduleLabels(project, plain), [swarmTaskLabel]: 't9' });
    await sync(store, docker);
    expect(store.get('plain')).toMatchObject({ status: 'NOT_LOADED', containerId: undefined });
    const taskContainer = docker.addContainer(plain, 'running', { ...moduleLabels(project, plain), [swarmTaskLabel]: 't10' });
    expect(store.observe({ type: 'event', event: containerEvent(taskContainer, 'start') })).toEqual({ changes: [], reread: [], recheck: [] });
  });
});
