import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ContainerDetails, EngineEvent } from '../../src/engine/engine-types.ts';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const logger = pino({ level: 'silent' });
const labels = { ...moduleLabels(project, alpha), [labelKeys.spec]: specDigest(alpha) };
/** Longer than any test may take: an operation that waited it out would fail the test. */
const forever = 60_000;

describe("startModule's final state from the engine's own start event", () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let container: ContainerDetails;

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha) });
    container = engine.addContainer(alpha, 'exited', labels, { healthcheck: true });
    // What only an inspect tells, which the store keeps across the events of a start.
    Object.assign(container, { imageId: engine.imageIds.get(alpha.image), healthOutput: 'last check: ok', tty: true });
    await sync(store, engine);
  });

  const modules = (startEventWaitMs: number) =>
    new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, startEventWaitMs });

  /** The engine answers the start, and its start event reaches the store `when`: before the answer, or just after it. */
  const startSends = (event: () => EngineEvent, when: 'before' | 'after' = 'before') => {
    const start = engine.containers.start;
    engine.containers.start = async (id) => {
      await start(id);
      const deliver = () => store.observe({ type: 'event', event: event() });
      if (when === 'before') deliver();
      else setImmediate(deliver);
    };
  };

  const callsFrom = async (work: () => Promise<unknown>) => {
    engine.calls.length = 0;
    await work();
    return engine.calls;
  };

  it('answers the state the start event left, with no inspect, and keeps what only an inspect told', async () => {
    let event: EngineEvent | undefined;
    startSends(() => (event = containerEvent(container, 'start')));
    let started;
    const calls = await callsFrom(async () => (started = await modules(forever).start('alpha')));
    expect(calls).toEqual([`containers.start ${container.id}`]);
    expect(started).toMatchObject({ status: 'RUNNING', health: 'STARTING', containerId: container.id, startedAt: event!.time, exitCode: undefined });
    expect(store.container('alpha')).toMatchObject({ imageId: container.imageId, healthOutput: 'last check: ok', tty: true, healthcheck: true });
  });

  it('waits for a start event that comes just after the engine answers', async () => {
    startSends(() => containerEvent(container, 'start'), 'after');
    const calls = await callsFrom(() => modules(forever).start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`]);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
  });

  it('takes the state after the start: a container that died at once is answered EXITED', async () => {
    startSends(() => containerEvent(container, 'start'));
    const start = engine.containers.start;
    engine.containers.start = async (id) => {
      await start(id);
      engine.setState(id, 'exited');
      store.observe({ type: 'event', event: containerEvent({ ...container, exitCode: 3 }, 'die') });
    };
    await expect(modules(forever).start('alpha')).resolves.toMatchObject({ status: 'EXITED', exitCode: 3 });
    expect(engine.calls.at(-1)).toBe(`containers.start ${container.id}`);
  });

  it("does not take an earlier start's event, still on its way, for its own: it reads the container", async () => {
    startSends(() => ({ ...containerEvent(container, 'start'), time: new Date(Date.now() - 60_000) }));
    const calls = await callsFrom(() => modules(20).start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`, `containers.inspect ${container.id}`]);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', startedAt: engine.held.get(container.id)!.startedAt });
  });

  it('reads the container when no start event comes in time', async () => {
    const calls = await callsFrom(() => modules(20).start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`, `containers.inspect ${container.id}`]);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
  });

  it('reads the container at once, with no wait, when the engine is marked unreachable (no event comes then)', async () => {
    const start = engine.containers.start;
    engine.containers.start = async (id) => {
      await start(id);
      store.observe({ type: 'unreachable' });
    };
    const calls = await callsFrom(() => modules(forever).start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`, `containers.inspect ${container.id}`]);
  });

  it('reads at once a container known only from events, whose healthcheck no event tells', async () => {
    store.observe({ type: 'event', event: containerEvent(container, 'destroy') });
    store.observe({ type: 'event', event: containerEvent(container, 'create') });
    startSends(() => containerEvent(container, 'start'));
    const calls = await callsFrom(() => modules(forever).start('alpha'));
    expect(calls.at(-1)).toBe(`containers.inspect ${container.id}`);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
  });

  it('reads at once after a start of a running container, which sends no event', async () => {
    engine.setState(container.id, 'running');
    await sync(store, engine);
    const calls = await callsFrom(() => modules(forever).start('alpha'));
    expect(calls).toEqual([`containers.start ${container.id}`, `containers.inspect ${container.id}`]);
  });

  it("restarts with the start's final state from its event: no inspect after the start", async () => {
    engine.setState(container.id, 'running');
    await sync(store, engine);
    startSends(() => containerEvent(container, 'start'));
    const calls = await callsFrom(() => modules(forever).restart('alpha', 1));
    expect(calls.at(-1)).toBe(`containers.start ${container.id}`);
    expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
  });
});

// With a remote engine (ssh, tcp, a VM) whose clock runs ahead of berth's, the previous run's startedAt can lie after
// the moment berth asked: the store's state from before the start must not be taken to show it.
describe('startSeen with the engine clock ahead of berth', () => {
  it("answers the state after its own start, not the previous run's EXITED, when the engine's clock is 2 s ahead", async () => {
    const engine = new FakeEngine();
    engine.addImage(alpha.image);
    const store = new ModuleStore({ config: berthConfig(alpha) });
    const container = engine.addContainer(alpha, 'exited', labels, { healthcheck: true });
    // The last run began a second ago by the engine's clock, which is 2 s ahead: berth's clock says 1 s from now.
    Object.assign(container, { startedAt: new Date(Date.now() + 1000), exitCode: 137 });
    await sync(store, engine);
    const client = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, startEventWaitMs: 50 });
    // The start's own event is not yet in the store when the engine answers (it comes, later, from the watcher).
    const started = await client.start('alpha');
    expect(started).toMatchObject({ status: 'RUNNING' });
  });
});
