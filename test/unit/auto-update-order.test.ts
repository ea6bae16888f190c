import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { containerCreateOptions } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconciler } from '../../src/modules/reconciler.ts';
import type { ContainerDetails } from '../../src/engine/engine-types.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });
const image = 'example/shared:1';
const db = moduleSpec('db', { image, update: 'auto' });
const web = moduleSpec('web', { image, update: 'auto', dependsOn: [{ module: 'db', condition: 'started' }] });

describe('applies of modules that depend on each other', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let reader: ModuleReader;
  let modules: DockerModuleClient;
  let dbOld: ContainerDetails;
  let webOld: ContainerDetails;

  beforeEach(async () => {
    engine = new FakeEngine();
    const before = engine.addImage(image);
    dbOld = engine.addContainer(db, 'running', containerCreateOptions(project, db).Labels);
    webOld = engine.addContainer(web, 'running', containerCreateOptions(project, web).Labels);
    dbOld.imageId = before;
    webOld.imageId = before;
    store = new ModuleStore({ config: berthConfig(db, web), logger });
    reader = new ModuleReader({ docker: engine, store, project });
    modules = new DockerModuleClient({ docker: engine, store, reader, project, logger, updateTimeoutMs: 1000 });
    await sync(store, engine);
    engine.imageIds.set(image, `sha256:${'b'.repeat(64)}`); // docker tag moves the reference
  });

  const updated = () => engine.held.size === 2 && [...engine.held.values()].every((c) => c.id !== dbOld.id && c.id !== webOld.id && c.state === 'running');
  /** web's old container is stopped only once db's new one was started. */
  const expectDependencyFirst = () => {
    const at = (call: string) => engine.calls.indexOf(call);
    const dbNew = [...engine.held.values()].find((c) => c.labels['berth.module'] === 'db')!;
    expect(at(`containers.start ${dbNew.id}`)).toBeGreaterThan(-1);
    expect(at(`containers.stop ${webOld.id}`)).toBeGreaterThan(at(`containers.start ${dbNew.id}`));
  };

  it('when a shared image moves, the dependent update: auto module is applied after its dependency', async () => {
    const reconciler = new Reconciler({ modules, store, logger });
    const stop = reconciler.follow();
    store.observe(await reader.image(image));
    await until(updated, 'both updated');
    stop();
    await reconciler.idle();
    expectDependencyFirst();
  });

  it("a dependent's apply waits for an apply under way on its dependency", async () => {
    store.observe(await reader.image(image));
    await Promise.all([modules.apply('db', {}), modules.apply('web', {})]);
    expect(updated()).toBe(true);
    expectDependencyFirst();
  });
});
