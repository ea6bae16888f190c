import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ContainerDetails } from '../../src/engine/engine-types.ts';
import { diffConfigs } from '../../src/config/config-diff.ts';
import { BerthError } from '../../src/errors.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import type { ModuleStats } from '../../src/modules/module-stats.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconfiguration } from '../../src/modules/reconfiguration.ts';
import { berthConfig, containerEvent, FakeEngine, handling, moduleSpec, project, sync, until } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const logger = pino({ level: 'silent' });

/** Waits for the next reading, with the pending next() of a subscriber that is still waiting. */
const next = async (subscriber: AsyncIterator<ModuleStats>) => (await subscriber.next()).value as ModuleStats;

// One engine stream per module, shared by its subscribers, following the store: opened while the module
// runs and someone listens, closed otherwise (test/integration/module-stats.test.ts does it on the engine).
describe('module stats', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;
  let running: ContainerDetails;

  const observe = (container: ContainerDetails, action: 'start' | 'die' | 'destroy') => {
    if (action === 'start') docker.setState(container.id, 'running');
    if (action === 'die') docker.setState(container.id, 'exited');
    store.observe({ type: 'event', event: containerEvent(container, action) });
  };

  beforeEach(async () => {
    docker = new FakeEngine();
    running = docker.addContainer(alpha, 'running');
    docker.addContainer(beta, 'exited');
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger });
    modules = new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger });
    await sync(store, docker);
  });

  it('opens one engine stream for all the subscribers of a module, and closes it when the last one leaves', async () => {
    const subscribers = Array.from({ length: 100 }, () => modules.stats(['alpha']));
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    const readings = subscribers.map(next);
    docker.sendStats(running.id, { cpuPercent: 12.5, memoryBytes: 1000 });
    const delivered = await Promise.all(readings);
    expect(docker.openStatsStreams).toEqual([running.id]);
    expect(docker.calls.filter((call) => call.startsWith('stats.stream'))).toHaveLength(1);
    expect(delivered[0]).toMatchObject({ module: store.get('alpha'), cpuPercent: 12.5, memoryBytes: 1000 });
    // One object per reading for every subscriber: the shared execution runs an operation once for all of them.
    expect(new Set(delivered).size).toBe(1);
    for (const subscriber of subscribers.slice(1)) await subscriber.return!();
    expect(docker.openStatsStreams).toHaveLength(1);
    await subscribers[0]!.return!();
    expect(docker.openStatsStreams).toHaveLength(0);
  });

  it('delivers a new object for every reading', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    docker.sendStats(running.id);
    docker.sendStats(running.id);
    const [first, second] = [await next(subscriber), await next(subscriber)];
    expect(first).not.toBe(second);
    await subscriber.return!();
  });

  it('sends nothing for a module that does not run, and starts with its start; stops with its stop', async () => {
    const subscriber = modules.stats(['beta']);
    expect(docker.openStatsStreams).toEqual([]);
    const stopped = [...docker.held.values()].find((container) => container.name === beta.containerName)!;
    observe(stopped, 'start');
    await until(() => docker.openStatsStreams.length === 1, 'the stream of the started module');
    const reading = next(subscriber);
    docker.sendStats(stopped.id, { networkRxBytes: 42 });
    expect(await reading).toMatchObject({ module: { spec: { name: 'beta' }, status: 'RUNNING' }, networkRxBytes: 42 });
    observe(stopped, 'die');
    expect(docker.openStatsStreams).toEqual([]);
    await subscriber.return!();
  });

  it('drops a reading that arrives as the container stops: none is sent after the stop', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    docker.sendStats(running.id, { cpuPercent: 1 });
    observe(running, 'die');
    observe(running, 'start');
    await until(() => docker.openStatsStreams.length === 1, 'the stream of the next run');
    docker.sendStats(running.id, { cpuPercent: 2 });
    expect((await next(subscriber)).cpuPercent).toBe(2);
    await subscriber.return!();
  });

  it('follows the module to its next container', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    observe(running, 'destroy');
    docker.held.delete(running.id);
    expect(docker.openStatsStreams).toEqual([]);
    const replacement = docker.addContainer(alpha, 'created');
    observe(replacement, 'start');
    await until(() => docker.openStatsStreams[0] === replacement.id, 'the stream of the new container');
    const reading = next(subscriber);
    docker.sendStats(replacement.id, { memoryBytes: 7 });
    expect(await reading).toMatchObject({ memoryBytes: 7 });
    await subscriber.return!();
  });

  it('moves to the new container when the store sees another one running in its place', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    docker.held.delete(running.id);
    const replacement = docker.addContainer(alpha, 'running');
    store.observe({ type: 'container', module: 'alpha', container: replacement, since: store.mark() });
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', containerId: replacement.id });
    await until(() => docker.openStatsStreams[0] === replacement.id, 'the stream of the new container');
    expect(docker.openStatsStreams).toHaveLength(1);
    await subscriber.return!();
  });

  it('keeps the stream through a stop under way (HANDLING), for the container may run a while yet', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    handling(store, 'alpha', true);
    expect(docker.openStatsStreams).toEqual([running.id]);
    observe(running, 'die');
    handling(store, 'alpha', false);
    expect(docker.openStatsStreams).toEqual([]);
    await subscriber.return!();
  });

  it('opens a broken stream again while the module runs', async () => {
    const subscriber = modules.stats(['alpha']);
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    docker.breakStatsStreams(running.id);
    expect(docker.openStatsStreams).toEqual([]);
    await until(() => docker.openStatsStreams.length === 1, 'the stream opened again');
    expect(docker.calls.filter((call) => call.startsWith('stats.stream'))).toHaveLength(2);
    await subscriber.return!();
  });

  it('ends a subscriber that falls behind, without holding up the others or the stream', async () => {
    const slow = modules.stats(['alpha'], { perModuleCapacity: 3 });
    const fast = modules.stats(['alpha'], { perModuleCapacity: 3 });
    await until(() => docker.openStatsStreams.length === 1, 'the stream');
    for (let reading = 0; reading < 10; reading++) {
      const delivered = next(fast);
      docker.sendStats(running.id, { cpuPercent: reading });
      expect((await delivered).cpuPercent).toBe(reading);
    }
    const held: number[] = [];
    for await (const reading of slow) held.push(reading.cpuPercent);
    expect(held).toEqual([0, 1, 2]);
    expect(docker.openStatsStreams).toHaveLength(1);
    await fast.return!();
  });

  it('follows every module when no names are given, and refuses an unknown name', async () => {
    const subscriber = modules.stats(undefined);
    await until(() => docker.openStatsStreams.length === 1, 'the stream of the running module');
    expect(() => modules.stats(['alpha', 'nope'])).toThrow(expect.objectContaining({ code: 'MODULE_NOT_FOUND' }) as BerthError);
    expect(docker.openStatsStreams).toHaveLength(1);
    await subscriber.return!();
  });

  it('follows, without names, a module a reload adds, and goes on when a reload removes it', async () => {
    const gamma = moduleSpec('gamma');
    const added = docker.addContainer(gamma, 'running'); // already running when the reload declares it
    docker.addImage(gamma.image);
    const reconfiguration = new Reconfiguration({ store, reader: new ModuleReader({ docker, store, project }), modules, logger, stopTimeoutSeconds: 0 });
    const reload = (...specs: typeof alpha[]) => {
      const next = berthConfig(...specs);
      return reconfiguration.apply(next, diffConfigs(berthConfig(...store.list().map((module) => module.spec)), next));
    };
    const all = modules.stats(undefined);
    try {
      await until(() => docker.openStatsStreams.length === 1, "alpha's stream");
      await reload(alpha, beta, gamma);
      await until(() => docker.openStatsStreams.includes(added.id), "gamma's stream");
      docker.sendStats(added.id);
      expect((await next(all)).module.spec.name).toBe('gamma');
      await (await reload(alpha, beta)).removed;
      await until(() => !docker.openStatsStreams.includes(added.id), "gamma's stream closed with its container");
      expect(store.spec('gamma')).toBeUndefined();
      docker.sendStats(running.id);
      expect((await next(all)).module.spec.name).toBe('alpha');
    } finally {
      await all.return!();
    }
    expect(docker.openStatsStreams).toEqual([]);
  });
});
