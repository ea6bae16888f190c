import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { labelKeys, moduleLabels, specDigest } from '../../src/modules/container-spec.ts';
import { EngineWatcher, type EngineWatcherOptions } from '../../src/modules/engine-watcher.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { backoffDelay } from '../../src/lib/timing.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, until } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const labels = { ...moduleLabels(project, alpha), [labelKeys.spec]: specDigest(alpha) };


describe('EngineWatcher against a fake engine', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let watcher: EngineWatcher | undefined;
  let changes: ModuleStatusChange[];
  let syncs: number;

  beforeEach(() => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha, beta) });
    changes = [];
    syncs = 0;
    store.subscribe((change) => changes.push(change));
  });
  afterEach(async () => {
    await watcher?.stop();
    watcher = undefined;
  });

  function watch(options: Partial<EngineWatcherOptions> = {}): EngineWatcher {
    watcher = new EngineWatcher({
      docker: engine,
      store,
      reader: new ModuleReader({ docker: engine, store, project }),
      logger: pino({ level: 'silent' }),
      onSynced: () => syncs++,
      initialBackoffMs: 5,
      maxBackoffMs: 20,
      watchdogMs: 50,
      resyncMs: 60_000,
      ...options,
    });
    watcher.start();
    return watcher;
  }
  const seen = () => changes.map((change) => [change.module.spec.name, change.previous, change.status]);

  it('subscribes to events before it lists anything, then follows events without reading the engine', async () => {
    const container = engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => store.synced, 'the first sync');
    expect(engine.calls.slice(0, 2)).toEqual(['events.stream', 'system.version']);
    engine.calls.length = 0;
    engine.setState(container.id, 'running');
    engine.emit(containerEvent(container, 'start'));
    await until(() => store.get('alpha')!.status === 'RUNNING', 'the event to apply');
    expect(engine.calls.filter((call) => call !== 'system.ping')).toEqual([]);
  });

  it('reads a module again when an event is about a container it did not know, and retries a failed read at the watchdog tick', async () => {
    engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => store.synced, 'the first sync');
    const stray = engine.addContainer(alpha, 'running', labels);
    stray.name = 'stray';
    engine.held.delete([...engine.held.keys()][0]!);
    engine.fail('containers.list', 500);
    engine.emit(containerEvent(stray, 'start'));
    await until(() => store.get('alpha')!.containerId === stray.id, 'the retried read');
    expect(engine.calls.filter((call) => call === 'containers.list').length).toBeGreaterThanOrEqual(2);
    expect(store.get('alpha')!.status).toBe('RUNNING');
  });

  it('reads the module again when applying an event fails, whatever the failure', async () => {
    const container = engine.addContainer(alpha, 'exited', labels);
    watch();
    await until(() => syncs === 1, 'the first sync');
    const observe = store.observe.bind(store);
    store.observe = () => {
      store.observe = observe;
      throw new Error('a bug in applying the event');
    };
    engine.setState(container.id, 'running');
    engine.calls.length = 0;
    engine.emit(containerEvent(container, 'start'));
    await until(() => store.get('alpha')!.status === 'RUNNING', 'the read after the failed apply');
    expect(engine.calls).toContain('containers.list');
  });

  it('inspects an image again at the watchdog tick when its recheck after an event failed', async () => {
    watch();
    await until(() => syncs === 1, 'the first sync');
    engine.addImage(beta.image);
    engine.calls.length = 0;
    engine.fail('images.inspect', 500);
    engine.emit({ type: 'image', action: 'tag', id: 'sha256:0123', attributes: { name: beta.image }, time: new Date() });
    await until(() => store.get('beta')!.status === 'NOT_CREATED', 'the retried recheck');
    expect(engine.calls.filter((call) => call === `images.inspect ${beta.image}`)).toHaveLength(2);
  });

  it('syncs although one container cannot be inspected, and reads that one at the watchdog tick', async () => {
    const container = engine.addContainer(alpha, 'running', labels);
    engine.fail('containers.inspect', 500);
    watch();
    await until(() => syncs === 1, 'the first sync');
    expect(engine.calls.filter((call) => call === 'events.stream')).toEqual(['events.stream']);
    await until(() => store.get('alpha')!.containerId === container.id, 'the module read at the watchdog tick');
    expect(store.get('alpha')!.status).toBe('RUNNING');
  });

  it('reconnects after a broken stream and publishes only what really changed meanwhile', async () => {
    const container = engine.addContainer(alpha, 'running', labels);
    watch();
    await until(() => syncs === 1, 'the first sync');
    engine.down = true;
    engine.breakStreams();
    await until(() => !store.engine.reachable, 'the engine to show as down');
    engine.setState(container.id, 'exited');
    engine.down = false;
    await until(() => syncs === 2, 'the reconnect');
    expect(store.engine.reachable).toBe(true);
    expect(seen()).toEqual([['alpha', 'RUNNING', 'EXITED']]);
  });

  it('keeps trying at least every maxBackoffMs while the engine is down', async () => {
    engine.down = true;
    // Without the cap, a first delay of 10 s would leave one attempt in 400 ms; with it, about 20.
    watch({ initialBackoffMs: 10_000, maxBackoffMs: 20 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(engine.calls.filter((call) => call === 'events.stream').length).toBeGreaterThanOrEqual(5);
  });

  it('doubles the delay between attempts from the first, with jitter, never past the cap', () => {
    for (const [failures, low, high] of [[0, 80, 120], [1, 160, 240], [3, 640, 960], [4, 1000, 1000], [10, 1000, 1000]] as const) {
      const delay = backoffDelay(failures, 100, 1_000);
      expect(delay).toBeGreaterThanOrEqual(low);
      expect(delay).toBeLessThanOrEqual(high);
    }
  });

  it('reconnects when the watchdog ping is not answered, and when it fails', async () => {
    watch();
    await until(() => syncs === 1, 'the first sync');
    engine.fail('system.ping', 'never');
    await until(() => syncs === 2, 'a reconnect after the unanswered ping');
    engine.fail('system.ping', 'unreachable');
    await until(() => syncs === 3, 'a reconnect after the failed ping');
    expect(engine.openStreams).toBe(1);
  });

  it('follows the stream of an engine that refuses pings while its events still come (going down), and gives up once it falls silent', async () => {
    const container = engine.addContainer(alpha, 'running', labels);
    // Ticks long enough that a loaded machine's pauses stay well within three of them.
    watch({ watchdogMs: 200 });
    await until(() => syncs === 1, 'the first sync');
    engine.fail('system.ping', 'unreachable', 1_000);
    const pings = () => engine.calls.filter((call) => call === 'system.ping').length;
    // Events from the moment it refuses, then after each refused ping for six watchdog ticks: the engine stopping its
    // containers one after another.
    for (let tick = 0; tick < 6; tick++) {
      engine.emit(containerEvent(container, tick % 2 === 0 ? 'die' : 'start'));
      const before = pings();
      await until(() => pings() > before, 'the next watchdog ping');
    }
    engine.emit(containerEvent(container, 'die'));
    expect(syncs).toBe(1);
    await until(() => store.get('alpha')!.status === 'EXITED', 'the last event applied');
    // Silent for three ticks: given up, and followed anew.
    await until(() => syncs === 2, 'a reconnect once the stream fell silent');
  });

  it("follows the stream when a periodic resync fails while the engine's events still come (going down)", async () => {
    const container = engine.addContainer(alpha, 'running', labels);
    watch({ watchdogMs: 200, resyncMs: 50 });
    await until(() => syncs === 1, 'the first sync');
    // The engine going down: it refuses every new request, pings and the periodic resync's lists alike.
    for (const call of ['system.ping', 'containers.list', 'images.list']) engine.fail(call, 'unreachable', 1_000);
    const lists = () => engine.calls.filter((call) => call === 'containers.list').length;
    // Its containers' events keep coming across several failed resyncs.
    for (let period = 0; period < 6; period++) {
      engine.emit(containerEvent(container, period % 2 === 0 ? 'die' : 'start'));
      const before = lists();
      await until(() => lists() > before, 'the next periodic resync');
    }
    engine.emit(containerEvent(container, 'die'));
    await until(() => store.get('alpha')!.status === 'EXITED', 'the last event applied');
    expect(syncs).toBe(1);
    expect(engine.calls.filter((call) => call === 'events.stream')).toHaveLength(1);
    expect(store.engine.reachable).toBe(true);
  });

  it('answers reachableNow at once after the engine is back, without waiting out the backoff', async () => {
    watch({ initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
    await until(() => syncs === 1, 'the first sync');
    engine.down = true;
    engine.breakStreams();
    await until(() => !store.engine.reachable, 'the engine to show as down');
    await expect(watcher!.reachableNow(500)).resolves.toBe(false);
    engine.down = false;
    const asked = Date.now();
    await expect(watcher!.reachableNow(5_000)).resolves.toBe(true);
    expect(Date.now() - asked).toBeLessThan(1_000);
    expect(store.engine.reachable).toBe(true);
  });

  it("reconnects as soon as the engine's unix socket comes back in its folder", async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-socket-'));
    try {
      const socketPath = join(folder, 'docker.sock');
      watch({ initialBackoffMs: 60_000, maxBackoffMs: 60_000, socketPath });
      await until(() => syncs === 1, 'the first sync');
      engine.down = true;
      engine.breakStreams();
      await until(() => !store.engine.reachable, 'the engine to show as down');
      engine.down = false;
      await writeFile(socketPath, '');
      await until(() => syncs === 2, 'the reconnect woken by the socket', 2_000);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('finds what events missed at the periodic resync, inspecting only where the list disagrees', async () => {
    const running = engine.addContainer(alpha, 'running', labels);
    watch({ resyncMs: 100 });
    await until(() => syncs === 1, 'the first sync');
    engine.calls.length = 0;
    engine.setState(running.id, 'exited');
    await until(() => store.get('alpha')!.status === 'EXITED', 'the periodic resync');
    expect(seen()).toEqual([['alpha', 'RUNNING', 'EXITED']]);
    const inspects = engine.calls.filter((call) => call.startsWith('containers.inspect'));
    expect(inspects).toEqual([`containers.inspect ${running.id}`]);
    engine.calls.length = 0;
    await until(() => engine.calls.filter((call) => call === 'containers.list').length >= 2, 'two more resyncs');
    expect(engine.calls.filter((call) => call.startsWith('containers.inspect'))).toEqual([]);
  });

  it('finds a health verdict that events missed at the periodic resync', async () => {
    const running = engine.addContainer(alpha, 'running', labels, { healthcheck: true });
    watch({ resyncMs: 100 });
    await until(() => syncs === 1, 'the first sync');
    expect(store.get('alpha')!.health).toBe('STARTING');
    engine.setHealth(running.id, 'healthy');
    await until(() => store.get('alpha')!.health === 'HEALTHY', 'the periodic resync');
  });

  it('asks the engine for the events berth acts on only', async () => {
    const asked: (readonly string[] | undefined)[] = [];
    const stream = engine.events.stream;
    engine.events.stream = (signal: AbortSignal, actions?: readonly string[]) => {
      asked.push(actions);
      return stream(signal);
    };
    watch();
    await until(() => store.synced, 'the first sync');
    expect(asked[0]).toEqual(expect.arrayContaining(['start', 'die', 'destroy', 'rename', 'health_status', 'tag', 'untag', 'load']));
    expect(asked[0]).not.toContain('exec_start');
  });
});
