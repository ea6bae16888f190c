import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthcheckImage } from '../fixtures/images.ts';
import { StartModuleDocument } from '../generated/operations.ts';
import { startEngineProxy, type EngineProxy } from './engine-proxy.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { describeLifecycle } from './lifecycle-cases.ts';
import { describeLiveStatus } from './live-status-cases.ts';
import { startPodmanEngine, type PodmanEngine } from './podman-engine.ts';
import type { TestEngine } from './test-engine.ts';

// berth unchanged against Podman's Docker-compatible API: the lifecycle and live-status cases the suite's
// Docker engine runs, through an allowlisting proxy of Podman's own, so that least privilege holds there too.
let podman: PodmanEngine | undefined;
let proxy: EngineProxy | undefined;
let proxyDir: string | undefined;

beforeAll(async () => {
  podman = await startPodmanEngine([testImage, healthcheckImage]);
  proxyDir = await mkdtemp(join(tmpdir(), 'berth-podman-proxy-'));
  proxy = await startEngineProxy(join(proxyDir, 'engine.sock'), podman.socketPath);
});

afterAll(async () => {
  await proxy?.close();
  if (proxyDir) await rm(proxyDir, { recursive: true, force: true });
  await podman?.dispose();
  expect(proxy?.refused ?? [], 'endpoints berth called on Podman that the allowlist lacks').toEqual([]);
});

const engine = (): TestEngine => ({ connection: { socketPath: proxy!.socketPath }, docker: podman!.docker, cli: podman!.cli });

describeLifecycle('Podman', engine);
describeLiveStatus('Podman', engine);

describe('what Podman does its own way', () => {
  let berth: Harness;

  beforeAll(async () => {
    const { connection, docker } = engine();
    berth = createHarness(
      `networks:
  backend: {}
modules:
  server:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    envs: { GREETING: over-the-network }
    networks: [backend]
  client:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", "printf 'GET /env.txt HTTP/1.0\\r\\n\\r\\n' | nc server 8080 | grep -q GREETING=over-the-network"]
  checked:
    kind: checked{{run}}
    image: ${healthcheckImage}
    autostart: false
`,
      { connection, engine: docker },
    );
    await berth.ready();
  });
  afterAll(() => berth?.cleanup());

  it('lets modules reach each other by module name over <project>_default (CNI dnsname), one of them on a declared network too', async () => {
    expect((await berth.gql(StartModuleDocument, { name: 'server' })).errors).toBeUndefined();
    expect((await berth.gql(StartModuleDocument, { name: 'client' })).errors).toBeUndefined();
    await waitFor(() => berth.store.get('client')!.status === 'EXITED', 'the client to exit');
    expect(berth.store.get('client')!.exitCode).toBe(0);
  });

  it("shows a healthcheck's verdict, which Podman's health_status event leaves out, once Podman runs the check", async () => {
    const started = await berth.gql('mutation { startModule(name: "checked") { status health containerId } }');
    // Without systemd Podman runs no check on its own: STARTING until one is run.
    expect(started.data?.startModule).toMatchObject({ status: 'RUNNING', health: 'STARTING' });
    // Checks run again until berth shows the verdict, as a cron job of them would: each sends its event.
    const runCheck = () => podman!.cli('healthcheck', 'run', started.data?.startModule.containerId);
    await waitFor(async () => (await runCheck(), berth.store.get('checked')!.health === 'HEALTHY'), 'checked to show as healthy');
  });
});
