import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { startEngineProxy, type EngineProxy } from './engine-proxy.ts';
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
  podman = await startPodmanEngine();
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
