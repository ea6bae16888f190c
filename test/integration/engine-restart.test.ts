import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statusFeed } from '../../src/graphql/status-feed.ts';
import { ModuleDetailDocument, StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { startSecondEngine, type SecondEngine } from './second-engine.ts';

interface Transition {
  previous: string | null;
  status: string;
}

/** Long enough for several of the harness's watchdog pings (500 ms) and reconnect backoffs (≤ 500 ms). */
const settleMs = 2_000;

describe('an engine that stops and comes back', () => {
  let engine: SecondEngine | undefined;
  let berth: Harness | undefined;
  let feed: ReturnType<typeof statusFeed> | undefined;
  const seen: Transition[] = [];

  /** The module's status changes since the last call. */
  const drain = () => seen.splice(0);
  const status = () => berth!.store.get('web')?.status;

  beforeAll(async () => {
    engine = await startSecondEngine();
    // No ports: the second engine runs without a bridge, and its containers need no network here.
    berth = createHarness(
      `modules:
  web:
    kind: http{{run}}
    image: ${testImage}
    autostart: true
`,
      { connection: { socketPath: engine.socketPath } },
    );
    await berth.ready();
    await waitFor(() => status() === 'RUNNING', 'the autostart module to run');

    const opened = statusFeed(berth.modules, { names: ['web'], initial: true });
    feed = opened;
    void (async () => {
      for await (const change of opened) seen.push({ previous: change.previous, status: change.status });
    })();
    await waitFor(() => seen.length > 0, 'the opening snapshot');
    expect(drain()).toEqual([{ previous: null, status: 'RUNNING' }]);
  });

  afterAll(async () => {
    void feed?.return();
    try {
      await berth?.cleanup();
    } finally {
      await engine?.dispose();
    }
  });

  /**
   * The engine up, berth in sync with it and the module in `wanted`, whatever an earlier test left (the engine
   * down, the container stopped): each test starts from its own state, in any order. What that took is drained.
   */
  async function given(wanted: 'RUNNING' | 'EXITED'): Promise<void> {
    await engine!.start();
    await waitFor(() => berth!.modules.engine.reachable, 'berth to reach the engine', 30_000);
    await waitFor(() => status() === 'RUNNING' || status() === 'EXITED', 'the module to settle', 30_000);
    if (status() !== wanted) {
      const changed = wanted === 'RUNNING' ? await berth!.gql(StartModuleDocument, { name: 'web' }) : await berth!.gql(StopModuleDocument, { name: 'web', timeoutSeconds: 1 });
      expect(changed.errors).toBeUndefined();
    }
    await waitFor(() => status() === wanted, `the module to be ${wanted}`);
    if (wanted === 'RUNNING') await waitFor(trapsSigterm, 'the container to trap SIGTERM');
    drain();
  }

  /**
   * Whether the container's script runs its loop, and so has set its SIGTERM trap: stopped before that, it ignores
   * SIGTERM (pid 1) and the engine kills it after the timeout, with exit code 137.
   */
  async function trapsSigterm(): Promise<boolean> {
    const container = engine!.docker.getContainer(berth!.store.get('web')?.containerId ?? '');
    const { Processes } = (await container.top()) as { Processes: string[][] };
    return Processes.some((row) => row.at(-1)?.startsWith('sleep') ?? false);
  }

  /** Stops the engine and starts it again, each time until berth has noticed. */
  async function stopAndStartEngine(): Promise<void> {
    await engine!.stop();
    await waitFor(() => !berth!.modules.engine.reachable, 'berth to notice the engine is gone');
    await engine!.start();
    await waitFor(() => berth!.modules.engine.reachable, 'berth to reconnect', 30_000);
  }

  it('keeps answering with the last known state, marked unreachable, while the engine is down', async () => {
    await given('RUNNING');
    const before = await berth!.gql('{ engine { reachable } module(name: "web") { status containerId } }');
    expect(before.data).toMatchObject({ engine: { reachable: true }, module: { status: 'RUNNING' } });

    await engine!.stop();
    await waitFor(() => !berth!.modules.engine.reachable, 'berth to notice the engine is gone');

    // dockerd stops its containers after closing its listener but while open connections still get answers,
    // so berth may or may not have seen that stop before losing the engine; either way it told subscribers what it saw.
    const toldWhileStopping = drain();
    expect([[], [{ previous: 'RUNNING', status: 'EXITED' }]]).toContainEqual(toldWhileStopping);
    const lastKnown = toldWhileStopping.at(-1)?.status ?? 'RUNNING';

    const result = await berth!.gql('{ engine { reachable } modules { name status } }');
    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ engine: { reachable: false }, modules: [{ name: 'web', status: lastKnown }] });
    const module = await berth!.gql(ModuleDetailDocument, { name: 'web' });
    expect(module.data?.module).toMatchObject({ status: lastKnown, containerId: before.data?.module.containerId });

    const asked = Date.now();
    const started = await berth!.gql(StartModuleDocument, { name: 'web' });
    expect(Date.now() - asked).toBeLessThan(1_000);
    expect(started.data).toBeNull();
    expect(started.errors?.map((error) => error.extensions?.code)).toEqual(['ENGINE_UNAVAILABLE']);
    const stopped = await berth!.gql(StopModuleDocument, { name: 'web' });
    expect(stopped.errors?.map((error) => error.extensions?.code)).toEqual(['ENGINE_UNAVAILABLE']);

    // Nothing more is published while berth cannot see the engine, and the failed start published no HANDLING.
    await sleep(settleMs);
    expect(drain()).toEqual([]);
    expect(berth!.modules.engine.reachable).toBe(false);
  });

  it('reconnects by itself when the engine is back and tells subscribers, once, what changed', async () => {
    await given('RUNNING');
    await stopAndStartEngine();

    // Without a restart policy the container stays stopped after the engine's restart, and berth does not start it again.
    await waitFor(() => status() === 'EXITED', 'the resync to see the stopped container');
    const result = await berth!.gql('{ engine { reachable } modules { name status exitCode } }');
    expect(result.data).toEqual({ engine: { reachable: true }, modules: [{ name: 'web', status: 'EXITED', exitCode: 0 }] });

    // Whether berth saw the stop before losing the engine or only in the resync, subscribers hear of it once.
    await sleep(settleMs);
    expect(drain()).toEqual([{ previous: 'RUNNING', status: 'EXITED' }]);
    expect(status()).toBe('EXITED');
  });

  it('acts on the engine again after the reconnect, and sees changes made on it', async () => {
    await given('EXITED');
    await stopAndStartEngine();
    const before = await berth!.gql(ModuleDetailDocument, { name: 'web' });
    const started = await berth!.gql(StartModuleDocument, { name: 'web' });
    expect(started.errors).toBeUndefined();
    expect(started.data?.startModule).toMatchObject({ status: 'RUNNING', containerId: before.data?.module.containerId });
    expect(drain()).toEqual([
      { previous: 'EXITED', status: 'HANDLING' },
      { previous: 'HANDLING', status: 'RUNNING' },
    ]);

    // Changes made on the engine, outside berth: the new event stream carries them.
    const container = engine!.docker.getContainer(started.data?.startModule.containerId ?? '');
    await waitFor(trapsSigterm, 'the container to trap SIGTERM');
    await container.stop({ t: 5 });
    await waitFor(() => status() === 'EXITED', 'the outside stop to show');
    await container.start();
    await waitFor(() => status() === 'RUNNING', 'the outside start to show');
    await sleep(settleMs);
    expect(drain()).toEqual([
      { previous: 'RUNNING', status: 'EXITED' },
      { previous: 'EXITED', status: 'RUNNING' },
    ]);
  });

  it('learns from the resync what a killed engine did to its containers while berth could not see it', async () => {
    await given('RUNNING');
    const before = await berth!.gql(ModuleDetailDocument, { name: 'web' });
    expect(before.data?.module.status).toBe('RUNNING');

    // SIGKILL: the engine stops nothing on its way down; its containers keep running under their shims.
    await engine!.kill();
    await waitFor(() => !berth!.modules.engine.reachable, 'berth to notice the engine is gone');
    const down = await berth!.gql('{ engine { reachable } module(name: "web") { status containerId } }');
    expect(down.data).toEqual({ engine: { reachable: false }, module: { status: before.data?.module.status, containerId: before.data?.module.containerId } });

    // Coming back without live-restore, the engine stops them before it answers: only the resync can tell.
    await engine!.start();
    await waitFor(() => berth!.modules.engine.reachable, 'berth to reconnect', 30_000);
    await waitFor(() => status() === 'EXITED', 'the resync to see the stopped container');
    const after = await berth!.gql('{ engine { reachable } module(name: "web") { status containerId } }');
    expect(after.data).toEqual({ engine: { reachable: true }, module: { status: 'EXITED', containerId: before.data?.module.containerId } });

    await sleep(settleMs);
    expect(drain()).toEqual([{ previous: 'RUNNING', status: 'EXITED' }]);
  });

  it('recreates, after the reconnect, an autostart container that went away while the engine was down', async () => {
    await given('EXITED');
    const before = await berth!.gql(ModuleDetailDocument, { name: 'web' });
    const oldId = before.data?.module.containerId ?? '';
    expect(before.data?.module.status).toBe('EXITED');

    await engine!.stop();
    await waitFor(() => !berth!.modules.engine.reachable, 'berth to notice the engine is gone');
    // Nobody can ask a stopped engine to remove a container: take it out of the engine's state on disk instead.
    await rm(join(engine!.dataRoot, 'containers', oldId), { recursive: true });
    await engine!.start();

    await waitFor(() => berth!.modules.engine.reachable, 'berth to reconnect', 30_000);
    await waitFor(() => status() === 'RUNNING', 'auto-create to run the module again', 30_000);
    const after = await berth!.gql(ModuleDetailDocument, { name: 'web' });
    expect(after.data?.module.status).toBe('RUNNING');
    expect(after.data?.module.containerId).not.toBe(oldId);
    const containers = await engine!.docker.listContainers({ all: true, filters: { label: [`berth.project=${berth!.project}`] } });
    expect(containers.map((container) => [container.Id, container.State])).toEqual([[after.data?.module.containerId, 'running']]);

    await sleep(settleMs);
    expect(drain()).toEqual([
      { previous: 'EXITED', status: 'NOT_CREATED' },
      { previous: 'NOT_CREATED', status: 'HANDLING' },
      { previous: 'HANDLING', status: 'RUNNING' },
    ]);
  });
});
