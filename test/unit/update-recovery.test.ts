import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { diffConfigs } from '../../src/config/config-diff.ts';
import { containerCreateOptions } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconciler } from '../../src/modules/reconciler.ts';
import { Reconfiguration } from '../../src/modules/reconfiguration.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const logger = pino({ level: 'silent' });
const old = moduleSpec('alpha', { envs: { GREETING: 'old' } });
const next = moduleSpec('alpha', { envs: { GREETING: 'new' } });
const beta = moduleSpec('beta');

describe('an apply the engine interrupts', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let reader: ModuleReader;
  let modules: DockerModuleClient;

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.addImage(next.image);
    engine.addContainer(old, 'running', containerCreateOptions(project, old).Labels);
    store = new ModuleStore({ config: berthConfig(next, beta), logger });
    reader = new ModuleReader({ docker: engine, store, project });
    modules = new DockerModuleClient({ docker: engine, store, reader, project, logger, updateTimeoutMs: 1000 });
    await sync(store, engine);
    await modules.recoverUpdates(); // berth's first sync: nothing to recover
    expect(store.get('alpha')!.drift).toEqual(['envs.GREETING']);
  });

  const names = () => [...engine.held.values()].map((container) => `${container.name}:${container.state}`).sort();

  it('is rolled back at once when the engine answers the rollback', async () => {
    engine.fail('containers.start', 'unreachable');
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(names()).toEqual(['alpha_svc:running']);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: ['envs.GREETING'] });
  });

  it('is rolled back when stopping the old container fails', async () => {
    engine.fail('containers.stop', 'unreachable');
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(names()).toEqual(['alpha_svc:running']);
  });

  it('is undone at the next sync when the rollback failed too, without a restart of berth', async () => {
    engine.fail('containers.start', 'unreachable');
    engine.fail('containers.remove', 'unreachable'); // the rollback's removal of the new container
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(names()).toEqual(['alpha_svc-berth-previous:exited', 'alpha_svc:created']);
    // The engine answers again: the watcher resyncs and calls onSynced (reconcile, recoverUpdates, retryRemovals).
    await sync(store, engine);
    await modules.recoverUpdates();
    expect(names()).toEqual(['alpha_svc:running']);
    // and again at a later sync: an apply then succeeds, and nothing brings the old container back
    await modules.apply('alpha', { timeoutSeconds: 0 });
    await sync(store, engine);
    await modules.recoverUpdates();
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: [] });
  });

  it('leaves no container of a module a reload removed', async () => {
    engine.fail('containers.start', 'unreachable');
    engine.fail('containers.remove', 'unreachable');
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await sync(store, engine);
    const reconfiguration = new Reconfiguration({ store, reader, modules, logger, stopTimeoutSeconds: 0 });
    const after = berthConfig(beta);
    await (await reconfiguration.apply(after, diffConfigs(berthConfig(next, beta), after))).removed;
    expect(store.spec('alpha')).toBeUndefined();
    expect(names()).toEqual([]);
  });

  it('leaves no container aside for a module no longer declared', async () => {
    engine.fail('containers.start', 'unreachable');
    engine.fail('containers.remove', 'unreachable');
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    // berth restarts with a docker.yaml without alpha
    const store2 = new ModuleStore({ config: berthConfig(beta), logger });
    const reader2 = new ModuleReader({ docker: engine, store: store2, project });
    const modules2 = new DockerModuleClient({ docker: engine, store: store2, reader: reader2, project, logger });
    await sync(store2, engine);
    await modules2.recoverUpdates();
    expect(names()).toEqual(['alpha_svc:created']);
  });

  it('a later berth restart does not swap the module back to a container from before an apply the engine interrupted', async () => {
    engine.fail('containers.start', 'unreachable', 2); // the new container's start, and the rollback's start of the old one
    await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    await sync(store, engine);
    await modules.recoverUpdates();
    await modules.start('alpha'); // the operator starts the module again: it was stopped, so it is made from docker.yaml
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: [] });
    // berth restarts (days later)
    const store2 = new ModuleStore({ config: berthConfig(next, beta), logger });
    const reader2 = new ModuleReader({ docker: engine, store: store2, project });
    const modules2 = new DockerModuleClient({ docker: engine, store: store2, reader: reader2, project, logger });
    await sync(store2, engine);
    await modules2.recoverUpdates();
    await sync(store2, engine);
    expect(store2.get('alpha')).toMatchObject({ status: 'RUNNING', drift: [] });
  });
});

it('an update: auto apply the engine interrupted is tried again at the next resync', async () => {
  const auto = moduleSpec('alpha', { envs: { GREETING: 'new' }, update: 'auto' });
  const engine = new FakeEngine();
  engine.addImage(auto.image);
  engine.addContainer(old, 'running', containerCreateOptions(project, old).Labels);
  const store = new ModuleStore({ config: berthConfig(auto), logger });
  const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, updateTimeoutMs: 1000 });
  const reconciler = new Reconciler({ modules, store, logger });
  await sync(store, engine);
  engine.fail('containers.start', 'unreachable');
  reconciler.reconcile();
  await reconciler.idle();
  expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: ['envs.GREETING'] });
  reconciler.reconcile(); // the watcher's resync once the engine is back
  await reconciler.idle();
  expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: [] });
});

it("an update: auto module whose operator's apply rolled back is not applied again by berth until its spec or image changes", async () => {
  const auto = moduleSpec('alpha', { envs: { GREETING: 'new' }, update: 'auto' });
  const engine = new FakeEngine();
  engine.addImage(auto.image);
  const before = engine.addContainer(old, 'running', containerCreateOptions(project, old).Labels);
  const store = new ModuleStore({ config: berthConfig(auto), logger });
  const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, updateTimeoutMs: 1000 });
  await sync(store, engine);
  // The new container exits as soon as it starts.
  const start = engine.containers.start;
  engine.containers.start = async (id) => {
    await start(id);
    if (id !== before.id) engine.setState(id, 'exited');
  };
  await expect(modules.apply('alpha', { timeoutSeconds: 0 })).rejects.toMatchObject({ code: 'UPDATE_ROLLED_BACK' });
  const reconciler = new Reconciler({ modules, store, logger });
  const stop = reconciler.follow();
  reconciler.reconcile();
  await reconciler.idle();
  stop();
  expect(engine.calls.filter((call) => call.startsWith('containers.create'))).toHaveLength(1);
  expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', drift: ['envs.GREETING'] });
});

it('an update cut short after a kind change leaves only the old container, under its name', async () => {
  const renamed = moduleSpec('alpha', { containerName: 'alpha_other' });
  const engine = new FakeEngine();
  engine.addImage(renamed.image);
  const before = engine.addContainer(old, 'exited', containerCreateOptions(project, old).Labels);
  before.name = `${old.containerName}-berth-previous`; // berth stopped mid-update: the old container aside, stopped
  engine.addContainer(renamed, 'created', containerCreateOptions(project, renamed).Labels);
  const store = new ModuleStore({ config: berthConfig(renamed), logger });
  const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger });
  await sync(store, engine);
  await modules.recoverUpdates();
  expect([...engine.held.values()].map((container) => `${container.name}:${container.state}`)).toEqual([`${old.containerName}:running`]);
});
