import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diffConfigs } from '../../src/config/config-diff.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconciler } from '../../src/modules/reconciler.ts';
import { Reconfiguration } from '../../src/modules/reconfiguration.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const web = moduleSpec('web', { autostart: true });
const logger = pino({ level: 'silent' });


describe('Reconciler', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let reconciler: Reconciler;
  let stop: () => void;

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.addImage(web.image);
    store = new ModuleStore({ config: berthConfig(web) });
    const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger });
    reconciler = new Reconciler({ modules, store, logger, retryMs: 20, maxRetryMs: 50 });
    stop = reconciler.follow();
    await sync(store, engine);
  });
  afterEach(() => stop());

  const creates = () => engine.calls.filter((call) => call.startsWith('containers.create')).length;

  it('creates and starts an autostart module that has no container', async () => {
    reconciler.reconcile();
    await until(() => store.get('web')!.status === 'RUNNING', 'the autostart');
    expect(creates()).toBe(1);
  });

  it('starts again a module whose container was removed while its autostart was under way', async () => {
    // The container goes as soon as the engine has started it: the start's own read finds nothing.
    const start = engine.containers.start;
    engine.containers.start = async (id) => {
      await start(id);
      engine.containers.start = start;
      const removed = engine.held.get(id)!;
      engine.held.delete(id);
      engine.emit(containerEvent(removed, 'destroy'));
    };
    reconciler.reconcile();
    await until(() => store.get('web')!.status === 'RUNNING', 'a second autostart');
    expect(creates()).toBe(2);
  });

  it('tries a failed autostart again after a wait, until it succeeds', async () => {
    engine.fail('containers.create', 500, 2);
    reconciler.reconcile();
    await until(() => store.get('web')!.status === 'RUNNING', 'the autostart to succeed on its third try');
    expect(creates()).toBe(3);
  });

  it('leaves alone a module whose container is there but stopped', async () => {
    engine.addContainer(web, 'exited', { ...moduleLabels(project, web), [labelKeys.spec]: specDigest(web) });
    await sync(store, engine);
    reconciler.reconcile();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(engine.calls.filter((call) => call.startsWith('containers.start'))).toEqual([]);
  });
});

describe('Reconciler, after a reload', () => {
  it('starts a module with no container that a reload turned autostart on for, as it starts one a reload adds', async () => {
    const off = moduleSpec('web', { autostart: false });
    const on = { ...off, autostart: true };
    const engine = new FakeEngine();
    engine.addImage(off.image);
    const store = new ModuleStore({ config: berthConfig(off), logger });
    const reader = new ModuleReader({ docker: engine, store, project });
    const modules = new DockerModuleClient({ docker: engine, store, reader, project, logger });
    const reconciler = new Reconciler({ modules, store, logger });
    const stop = reconciler.follow();
    try {
      await sync(store, engine);
      reconciler.reconcile(); // the first sync's: web is autostart: false
      expect(store.get('web')!.status).toBe('NOT_CREATED');
      await new Reconfiguration({ store, reader, modules, logger }).apply(berthConfig(on), diffConfigs(berthConfig(off), berthConfig(on)));
      // No resync follows (BERTH_RESYNC_SECONDS is 60 by default): the spec change alone starts it.
      await until(() => store.get('web')!.status === 'RUNNING', 'web autostarted');
    } finally {
      stop();
      await reconciler.idle();
    }
  });
});
