import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { toBerthError } from '../../src/engine/engine-error.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const logger = pino({ level: 'silent' });
const labelsOf = (spec = alpha) => ({ ...moduleLabels(project, spec), [labelKeys.spec]: specDigest(spec) });

describe('DockerModuleClient operations against a fake engine', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let reconnects: number;
  let engineBack: boolean;
  let modules: DockerModuleClient;
  let changes: ModuleStatusChange[];

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha) });
    reconnects = 0;
    engineBack = false;
    const reconnect = async () => {
      reconnects++;
      return engineBack;
    };
    modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, reconnect });
    changes = [];
    store.subscribe((change) => changes.push(change));
  });

  const statuses = () => changes.map((change) => change.status);
  const callsFrom = async (work: () => Promise<unknown>) => {
    engine.calls.length = 0;
    await work();
    return engine.calls;
  };

  it('starts the container it knows with no engine read first, then reads its final state once', async () => {
    const container = engine.addContainer(alpha, 'exited', labelsOf());
    await sync(store, engine);
    const calls = await callsFrom(() => modules.start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`, `containers.inspect ${container.id}`]);
    expect(statuses()).toEqual(['HANDLING', 'RUNNING']);
  });

  // The engine holds an inspect of a paused container while one of its healthchecks runs, up to the check's timeout.
  it('unpauses the paused container it knows with no inspect first', async () => {
    const container = engine.addContainer(alpha, 'paused', labelsOf());
    await sync(store, engine);
    const calls = await callsFrom(() => modules.start('alpha'));
    expect(calls).toEqual([`containers.unpause ${container.id}`, `containers.inspect ${container.id}`]);
    expect(store.get('alpha')!.status).toBe('RUNNING');
  });

  it('reads the container once more when its own start event overtook the read (Podman sends events late)', async () => {
    const container = engine.addContainer(alpha, 'exited', labelsOf(), { healthcheck: true });
    await sync(store, engine);
    // Known from events only: whether it has a healthcheck, no event tells.
    store.observe({ type: 'event', event: containerEvent(container, 'destroy') });
    store.observe({ type: 'event', event: containerEvent(container, 'create') });
    const inspect = engine.containers.inspect;
    engine.containers.inspect = async (idOrName) => {
      engine.containers.inspect = inspect;
      const read = await inspect(idOrName);
      store.observe({ type: 'event', event: containerEvent(container, 'start') });
      return read;
    };
    const started = await modules.start('alpha');
    expect(started).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
    expect(store.container('alpha')).toMatchObject({ id: container.id, healthcheck: true, startedAt: engine.held.get(container.id)!.startedAt });
  });

  it('reads the engine when the known container is gone (404) and creates the module a new one', async () => {
    const container = engine.addContainer(alpha, 'exited', labelsOf());
    await sync(store, engine);
    engine.held.delete(container.id);
    const started = await modules.start('alpha');
    expect(started).toMatchObject({ status: 'RUNNING' });
    expect(started.containerId).not.toBe(container.id);
    expect(engine.calls).toContain(`containers.create ${alpha.containerName}`);
  });

  it("answers a start with the health the engine reads after it: STARTING for docker.yaml's healthcheck, NONE without", async () => {
    const checked = moduleSpec('checked', { healthcheck: { test: ['CMD', 'true'] } });
    engine.addImage(checked.image);
    const both = new ModuleStore({ config: berthConfig(alpha, checked) });
    const operations = new DockerModuleClient({ docker: engine, store: both, reader: new ModuleReader({ docker: engine, store: both, project }), project, logger });
    await sync(both, engine);
    await expect(operations.start('checked')).resolves.toMatchObject({ status: 'RUNNING', health: 'STARTING' });
    await expect(operations.start('alpha')).resolves.toMatchObject({ status: 'RUNNING', health: 'NONE' });
    await expect(operations.stop('checked', 1)).resolves.toMatchObject({ status: 'EXITED', health: 'UNHEALTHY' });
  });

  it('unpauses a container the engine refuses to start (409) because it was paused from outside', async () => {
    const container = engine.addContainer(alpha, 'exited', labelsOf());
    await sync(store, engine);
    engine.setState(container.id, 'paused');
    engine.fail('containers.start', 409);
    await expect(modules.start('alpha')).resolves.toMatchObject({ status: 'RUNNING', containerId: container.id });
    expect(engine.calls).toContain(`containers.unpause ${container.id}`);
  });

  it('recreates a container made from another docker.yaml', async () => {
    const stale = engine.addContainer(alpha, 'exited', { ...labelsOf(), [labelKeys.spec]: 'older' });
    await sync(store, engine);
    const started = await modules.start('alpha');
    expect(engine.calls).toContain(`containers.remove ${stale.id}`);
    expect(started.containerId).not.toBe(stale.id);
  });

  it("uses another berth's container when that berth created the module's first (409 on create)", async () => {
    await sync(store, engine);
    engine.fail('containers.create', 409);
    const winner = engine.addContainer(alpha, 'created', labelsOf());
    engine.held.delete(winner.id);
    // The other replica's container appears between this one's look at the engine and its create.
    const create = engine.containers.create;
    engine.containers.create = async (options) => {
      engine.held.set(winner.id, winner);
      return create(options);
    };
    await expect(modules.start('alpha')).resolves.toMatchObject({ status: 'RUNNING', containerId: winner.id });
    expect([...engine.held.keys()]).toEqual([winner.id]);
  });

  it('recreates an outdated container that another berth is removing at the same moment (404 on remove)', async () => {
    const stale = engine.addContainer(alpha, 'exited', { ...labelsOf(), [labelKeys.spec]: 'older' });
    await sync(store, engine);
    // The other berth's remove lands first: this one's answers 404.
    const remove = engine.containers.remove;
    engine.containers.remove = async (id) => {
      engine.held.delete(id);
      return remove(id);
    };
    await expect(modules.start('alpha')).resolves.toMatchObject({ status: 'RUNNING' });
    expect([...engine.held.keys()]).not.toContain(stale.id);
  });

  it('refuses with NAME_CONFLICT a name someone else took meanwhile, and leaves their container alone', async () => {
    await sync(store, engine);
    const foreign = engine.addContainer(alpha, 'running', {});
    const started = modules.start('alpha');
    await expect(started).rejects.toMatchObject({ code: 'NAME_CONFLICT' });
    expect(engine.held.get(foreign.id)?.state).toBe('running');
    expect(statuses()).toEqual(['HANDLING', 'NOT_CREATED']);
  });

  it('answers IMAGE_NOT_LOADED when the image is gone, and shows NOT_LOADED', async () => {
    await sync(store, engine);
    engine.imageIds.clear();
    await expect(modules.start('alpha')).rejects.toMatchObject({ code: 'IMAGE_NOT_LOADED' });
    expect(store.get('alpha')!.status).toBe('NOT_LOADED');
  });

  it('reads the module again after a failed operation, and passes the engine error on', async () => {
    const container = engine.addContainer(alpha, 'exited', labelsOf());
    await sync(store, engine);
    engine.fail('containers.start', 500, 2);
    await expect(modules.start('alpha')).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
    expect(engine.calls.slice(-2)).toEqual([`containers.list`, `containers.inspect ${container.id}`]);
    expect(statuses()).toEqual(['HANDLING', 'EXITED']);
  });

  it('stops a running module, and stopping it again succeeds and changes nothing', async () => {
    engine.addContainer(alpha, 'running', labelsOf());
    await sync(store, engine);
    await expect(modules.stop('alpha', 1)).resolves.toMatchObject({ status: 'EXITED' });
    await expect(modules.stop('alpha', 1)).resolves.toMatchObject({ status: 'EXITED' });
  });

  it('restarts as one operation: stop then start of the same container, HANDLING throughout', async () => {
    const container = engine.addContainer(alpha, 'running', labelsOf());
    await sync(store, engine);
    const calls = await callsFrom(() => modules.restart('alpha', 1));
    expect(calls.filter((call) => !call.startsWith('containers.inspect') && call !== 'containers.list')).toEqual([
      `containers.stop ${container.id}`,
      `containers.start ${container.id}`,
    ]);
    expect(statuses()).toEqual(['HANDLING', 'RUNNING']);
  });

  it('restarts a module with no container by creating and starting it, and refuses a bad timeout', async () => {
    await sync(store, engine);
    await expect(modules.restart('alpha', 1)).resolves.toMatchObject({ status: 'RUNNING' });
    await expect(modules.restart('alpha', -1)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
  });

  // Two berths made the project's network at the same moment; the other one settled on its own and removed this one's.
  it('prepares the network again when it was removed between its preparation and the create', async () => {
    await sync(store, engine);
    const create = engine.containers.create;
    engine.containers.create = async () => {
      engine.containers.create = create;
      const [network] = engine.networksHeld.keys();
      engine.networksHeld.delete(network!);
      throw toBerthError(Object.assign(new Error(`network ${network} not found`), { statusCode: 404 }), 'create');
    };
    await expect(modules.start('alpha')).resolves.toMatchObject({ status: 'RUNNING' });
    expect(engine.calls.filter((call) => call.startsWith('networks.create'))).toHaveLength(2);
  });

  describe('with the engine marked down', () => {
    beforeEach(async () => {
      engine.addContainer(alpha, 'exited', labelsOf());
      await sync(store, engine);
      store.observe({ type: 'unreachable' });
      engine.calls.length = 0;
    });

    it('asks for a reconnect once and refuses with ENGINE_UNAVAILABLE, without calling the engine, while it stays down', async () => {
      await expect(modules.start('alpha')).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      await expect(modules.stop('alpha', 1)).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
      expect(reconnects).toBe(2);
      expect(engine.calls).toEqual([]);
      expect(changes).toEqual([]);
    });

    it('goes ahead when the reconnect finds the engine back', async () => {
      engineBack = true;
      await expect(modules.start('alpha')).resolves.toMatchObject({ status: 'RUNNING' });
      expect(reconnects).toBe(1);
    });
  });
});
