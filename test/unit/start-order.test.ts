import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ModuleSpec } from '../../src/config/module-spec.ts';
import { stopFirst } from '../../src/modules/dependencies.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconciler } from '../../src/modules/reconciler.ts';
import { berthConfig, containerEvent, FakeEngine, healthEvent, moduleSpec, project, sync, until } from './fake-engine.ts';

const db = moduleSpec('db', { healthcheck: { test: ['CMD', 'true'] } });
const cache = moduleSpec('cache');
const migrate = moduleSpec('migrate', { dependsOn: [{ module: 'db', condition: 'healthy' }] });
const web = moduleSpec('web', {
  dependsOn: [
    { module: 'cache', condition: 'started' },
    { module: 'migrate', condition: 'completed' },
  ],
});
const logger = pino({ level: 'silent' });

describe('start order against a fake engine', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;

  const build = (dependencyTimeoutMs = 5_000, ...specs: ModuleSpec[]) => {
    engine = new FakeEngine();
    for (const spec of specs) engine.addImage(spec.image);
    store = new ModuleStore({ config: berthConfig(...specs) });
    modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, dependencyTimeoutMs });
  };
  beforeEach(async () => {
    build(5_000, db, cache, migrate, web);
    await sync(store, engine);
  });

  const starts = () => engine.calls.filter((call) => call.startsWith('containers.create')).map((call) => call.split(' ')[1]!.replace(/_svc$/, ''));
  const containerOf = (name: string) => engine.held.get(store.get(name)!.containerId!)!;
  // What the watcher would hand the store from the engine's event stream.
  const turnHealthy = (name: string, health: 'healthy' | 'unhealthy') => {
    engine.setHealth(containerOf(name).id, health);
    store.observe({ type: 'event', event: healthEvent(containerOf(name), health) });
  };
  const exit = (name: string, code: number) => {
    const container = containerOf(name);
    engine.setState(container.id, 'exited');
    container.exitCode = code;
    store.observe({ type: 'event', event: containerEvent(container, 'die') });
  };
  const started = (name: string) => () => store.get(name)?.status === 'RUNNING';

  it('starts the dependencies first, waiting for each condition, then the module', async () => {
    const starting = modules.start('web');
    await until(started('db'), 'db to run');
    expect(starts().sort()).toEqual(['cache', 'db']);
    turnHealthy('db', 'healthy');
    await until(started('migrate'), 'migrate to run');
    expect(starts()).not.toContain('web');
    exit('migrate', 0);
    expect(await starting).toMatchObject({ status: 'RUNNING' });
    expect(starts().at(-1)).toBe('web');
  });

  it('fails with DEPENDENCY_FAILED naming the job and its exit code, and never creates the module', async () => {
    const starting = modules.start('web');
    await until(started('db'), 'db to run');
    turnHealthy('db', 'healthy');
    await until(started('migrate'), 'migrate to run');
    exit('migrate', 1);
    await expect(starting).rejects.toMatchObject({ code: 'DEPENDENCY_FAILED', message: expect.stringMatching(/"web" needs "migrate" completed.*exited with code 1/) });
    expect(starts()).not.toContain('web');
    expect(store.get('web')!.status).toBe('NOT_CREATED');
  });

  it('fails a dependent when its dependency turns unhealthy, naming the whole chain', async () => {
    const starting = modules.start('web');
    await until(started('db'), 'db to run');
    turnHealthy('db', 'unhealthy');
    await expect(starting).rejects.toMatchObject({ code: 'DEPENDENCY_FAILED', message: expect.stringMatching(/"web" needs "migrate" completed.*"migrate" needs "db" healthy.*unhealthy/) });
    expect(starts()).not.toContain('migrate');
  });

  it('does not run a completed job again for a dependent, and startModule runs it again', async () => {
    const first = modules.start('web');
    await until(started('db'), 'db to run');
    turnHealthy('db', 'healthy');
    await until(started('migrate'), 'migrate to run');
    exit('migrate', 0);
    await first;
    await modules.stop('web', 1);
    engine.calls.length = 0;
    await modules.start('web');
    expect(engine.calls.filter((call) => call.startsWith('containers.start'))).toEqual([`containers.start ${store.get('web')!.containerId}`]);
    await modules.start('migrate');
    expect(engine.calls.filter((call) => call.startsWith('containers.start'))).toHaveLength(2);
  });

  it('gives up on a dependency after the deadline', async () => {
    build(100, db, cache, migrate, web);
    await sync(store, engine);
    await expect(modules.start('migrate')).rejects.toMatchObject({ code: 'DEPENDENCY_FAILED', message: expect.stringContaining('"db" healthy, and it is not: it was not healthy within 0 s') });
  });

  it('fails with DEPENDENCY_FAILED when the dependency cannot start', async () => {
    engine.imageIds.delete(cache.image);
    build(5_000, db, cache, migrate, web);
    engine.imageIds.delete(cache.image);
    await sync(store, engine);
    await expect(modules.start('web')).rejects.toMatchObject({ code: 'DEPENDENCY_FAILED', message: expect.stringMatching(/"web" needs "cache" started.*image "example\/cache:1" of module "cache" is not on the engine/) });
  });

  it('stops the dependents of a batch first', async () => {
    const order: string[] = [];
    build(5_000, cache, moduleSpec('api', { dependsOn: [{ module: 'cache', condition: 'started' }] }), moduleSpec('ui', { dependsOn: [{ module: 'api', condition: 'started' }] }));
    await sync(store, engine);
    await Promise.all(modules.startMany(['ui']));
    store.subscribe((change) => change.status === 'EXITED' && order.push(change.module.spec.name));
    await Promise.all(modules.stopMany(['cache', 'ui', 'api'], 1));
    expect(order).toEqual(['ui', 'api', 'cache']);
  });

  it('answers each module of a batch on its own: one failure does not hide the others', async () => {
    const results = await Promise.allSettled(modules.startMany(['cache', 'nope']));
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { status: 'RUNNING' } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'MODULE_NOT_FOUND' } });
  });
});

describe('start order, reviewed', () => {
  const build = async (specs: ModuleSpec[], dependencyTimeoutMs = 5_000, running: ModuleSpec[] = []) => {
    const engine = new FakeEngine();
    for (const spec of specs) engine.addImage(spec.image);
    for (const spec of running) engine.addContainer(spec, 'running');
    const store = new ModuleStore({ config: berthConfig(...specs) });
    const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, dependencyTimeoutMs });
    await sync(store, engine);
    return { engine, store, modules };
  };
  const startsOf = (engine: FakeEngine, id: string | undefined) => engine.calls.filter((call) => call === `containers.start ${id}`).length;

  it('autostart does not run a job again that a dependent ran while the autostart waited its turn', async () => {
    const job = moduleSpec('job', { autostart: true });
    const app = moduleSpec('app', { autostart: true, dependsOn: [{ module: 'job', condition: 'completed' }] });
    const { engine, store, modules } = await build([app, job]);
    // A fast job: it has exited with code 0 by the time the start's own inspect looks.
    const start = engine.containers.start;
    engine.containers.start = async (id: string) => {
      await start(id);
      if (engine.held.get(id)!.name === job.containerName) engine.setState(id, 'exited');
    };
    const reconciler = new Reconciler({ modules, store, logger });
    const stop = reconciler.follow();
    reconciler.reconcile();
    await until(() => store.get('app')!.status === 'RUNNING', 'app to run');
    stop();
    await reconciler.idle();
    expect(startsOf(engine, store.get('job')!.containerId)).toBe(1);
  });

  it('leaves a running module and its stopped dependency as they are', async () => {
    const db = moduleSpec('db');
    const api = moduleSpec('api', { dependsOn: [{ module: 'db', condition: 'started' }] });
    const { engine, store, modules } = await build([db, api]);
    await modules.start('api');
    await modules.stop('db', 1);
    engine.calls.length = 0;
    expect(await modules.start('api')).toMatchObject({ status: 'RUNNING' });
    expect(startsOf(engine, store.get('db')!.containerId)).toBe(0);
  });

  it('fails at once on a healthy dependency that runs without a healthcheck, made before docker.yaml gave it one', async () => {
    const db = moduleSpec('db', { healthcheck: { test: ['CMD', 'true'] } });
    const api = moduleSpec('api', { dependsOn: [{ module: 'db', condition: 'healthy' }] });
    const { modules } = await build([db, api], 60_000, [db]);
    await expect(modules.start('api')).rejects.toMatchObject({ code: 'DEPENDENCY_FAILED', message: expect.stringContaining('it runs without a healthcheck') });
  });

  it('gives each dependency of a chain the whole timeout', async () => {
    const { engine, store, modules } = await build([db, cache, migrate, web], 1_000);
    const starting = modules.start('migrate');
    await until(() => store.get('db')?.status === 'RUNNING', 'db to run');
    await new Promise((resolve) => setTimeout(resolve, 700));
    const container = engine.held.get(store.get('db')!.containerId!)!;
    engine.setHealth(container.id, 'healthy');
    store.observe({ type: 'event', event: healthEvent(container, 'healthy') });
    await until(() => store.get('migrate')?.status === 'RUNNING', 'migrate to run');
    expect(await starting).toMatchObject({ status: 'RUNNING' });
  });

  it('waits past the unhealthy verdict a paused dependency shows on unpause, until its next check', async () => {
    const { engine, store, modules } = await build([db, cache, migrate, web]);
    await modules.start('db');
    const container = engine.held.get(store.get('db')!.containerId!)!;
    engine.setHealth(container.id, 'healthy');
    store.observe({ type: 'event', event: healthEvent(container, 'healthy') });
    engine.setState(container.id, 'paused');
    store.observe({ type: 'event', event: containerEvent(container, 'pause') });
    expect(store.get('db')!.health).toBe('UNHEALTHY');
    const starting = modules.start('migrate');
    await until(() => store.get('db')?.status === 'RUNNING', 'db to be unpaused');
    engine.setHealth(container.id, 'healthy');
    store.observe({ type: 'event', event: healthEvent(container, 'healthy') });
    expect(await starting).toMatchObject({ status: 'RUNNING' });
  });
});

describe('stopFirst', () => {
  it('orders the dependents in the batch, through modules outside it too', () => {
    const specs = new Map([cache, db, migrate, web].map((spec) => [spec.name, spec]));
    expect(stopFirst(['db', 'web', 'cache'], (name) => specs.get(name))).toEqual(
      new Map([
        ['db', ['web']],
        ['web', []],
        ['cache', ['web']],
      ]),
    );
  });
});
