import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { subscribe as subscribeTo, wsClient } from './subscription.ts';
import type { TestEngine } from './test-engine.ts';

interface Change {
  module: { name: string; containerId: string | null };
  previous: string | null;
  status: string;
  at: string;
}

/** A moduleStatusChanged subscription, waited on by module and status. */
function subscribe(client: Client, query: string) {
  const feed = subscribeTo<Change>(client, query, 'moduleStatusChanged');
  return {
    ...feed,
    statuses: (name: string) => feed.received.filter((change) => change.module.name === name).map((change) => `${change.previous}>${change.status}`),
    async until(name: string, status: string, from = 0) {
      await feed.until((change) => change.module.name === name && change.status === status, `${name} ${status}`, from);
    },
  };
}

/**
 * Live status from the engine's events: outside changes made with the engine's own CLI, images that come
 * and go, HANDLING, paused modules; run against the suite's Docker engine (live-status.test.ts) and Podman
 * (podman.test.ts). `engineOf` is called before the cases, once the engine is up.
 */
export function describeLiveStatus(engineName: string, engineOf: () => TestEngine): void {
  describe(`live status on ${engineName}`, () => {
    let engine: TestEngine;
    let berth: Harness;
    let server: RunningServer;
    let client: Client;
    const lateImage = () => `berth-test/late-${berth.run}:1.0`;
    const manualImage = () => `berth-test/manual-${berth.run}:1.0`;
    const status = async (name: string) => (await berth.gql(`{ module(name: "${name}") { status containerId } }`)).data?.module;

    beforeAll(async () => {
      engine = engineOf();
      berth = createHarness(`modules:
  web:
    kind: web{{run}}
    image: ${testImage}
  late:
    kind: late{{run}}
    image: berth-test/late-{{run}}:1.0
  manual:
    kind: manual{{run}}
    image: berth-test/manual-{{run}}:1.0
    autostart: false
`, { connection: engine.connection, engine: engine.docker });
      await berth.ready();
      server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
      client = wsClient(server);
    });
    afterAll(async () => {
      await client?.dispose();
      await server?.close();
      await berth?.cleanup();
      await engine?.cli('rmi', lateImage(), manualImage()).catch(() => {});
    });

    it('creates and starts an autostart module at start-up', async () => {
      await waitFor(async () => (await status('web'))?.status === 'RUNNING', 'web to be auto-started');
      expect(await status('late')).toEqual({ status: 'NOT_LOADED', containerId: null });
      expect(await status('manual')).toEqual({ status: 'NOT_LOADED', containerId: null });
    });

    it('delivers outside stop, start, kill and rm to subscribers and queries, and recreates a removed autostart container', async () => {
      const feed = subscribe(client, 'subscription { moduleStatusChanged(names: ["web"], initial: true) { module { name containerId } previous status at } }');
      await waitFor(() => feed.received.length > 0, 'the opening snapshot');
      expect(feed.received[0]).toMatchObject({ module: { name: 'web' }, previous: null, status: 'RUNNING' });
      const { containerId } = await status('web');

      await engine.cli('stop', '-t', '1', containerId);
      await feed.until('web', 'EXITED');
      expect((await status('web')).status).toBe('EXITED');

      await engine.cli('start', containerId);
      await feed.until('web', 'RUNNING', 2);
      expect((await status('web')).status).toBe('RUNNING');

      await engine.cli('kill', containerId);
      await feed.until('web', 'EXITED', 3);

      const mark = feed.received.length;
      await engine.cli('rm', '-f', containerId);
      await feed.until('web', 'RUNNING', mark);
      const recreated = await status('web');
      expect(recreated.status).toBe('RUNNING');
      expect(recreated.containerId).not.toBe(containerId);

      expect(feed.statuses('web').slice(0, 4)).toEqual(['null>RUNNING', 'RUNNING>EXITED', 'EXITED>RUNNING', 'RUNNING>EXITED']);
      expect(feed.received.every((change) => change.previous !== change.status)).toBe(true);
      expect(feed.errors).toEqual([]);
      feed.dispose();
    });

    it('follows images tagged in and removed: auto-create for autostart modules, NOT_CREATED for the others', async () => {
      const feed = subscribe(client, 'subscription { moduleStatusChanged(names: ["late", "manual"], initial: true) { module { name containerId } previous status at } }');
      await waitFor(() => feed.received.length >= 2, 'the opening snapshot');

      await engine.cli('tag', testImage, manualImage());
      await feed.until('manual', 'NOT_CREATED');
      expect(await status('manual')).toEqual({ status: 'NOT_CREATED', containerId: null });

      await engine.cli('tag', testImage, lateImage());
      await feed.until('late', 'RUNNING');
      expect(feed.statuses('late').slice(0, 2)).toEqual(['null>NOT_LOADED', 'NOT_LOADED>NOT_CREATED']);
      expect(feed.statuses('late')).toContain('HANDLING>RUNNING');

      const mark = feed.received.length;
      await engine.cli('rmi', manualImage());
      await feed.until('manual', 'NOT_LOADED', mark);
      expect(feed.statuses('manual')).toEqual(['null>NOT_LOADED', 'NOT_LOADED>NOT_CREATED', 'NOT_CREATED>NOT_LOADED']);
      expect(feed.received.some((change) => change.module.name === 'web')).toBe(false);
      feed.dispose();
    });

    it('publishes HANDLING while berth stops a module, then the final status', async () => {
      const feed = subscribe(client, 'subscription { moduleStatusChanged(names: ["late"], initial: true) { module { name containerId } previous status at } }');
      await waitFor(() => feed.received.length > 0, 'the opening snapshot');
      const stopped = await berth.gql(StopModuleDocument, { name: 'late', timeoutSeconds: 2 });
      expect(stopped.data?.stopModule.status).toBe('EXITED');
      await feed.until('late', 'EXITED');
      expect(feed.statuses('late')).toEqual(['null>RUNNING', 'RUNNING>HANDLING', 'HANDLING>EXITED']);
      feed.dispose();
    });

    it('runs 20 concurrent startModule calls on one module into one container, all RUNNING', async () => {
      await engine.cli('tag', testImage, manualImage());
      await waitFor(async () => (await status('manual'))?.status === 'NOT_CREATED', 'manual to see its image');
      const results = await Promise.all(Array.from({ length: 20 }, () => berth.gql(StartModuleDocument, { name: 'manual' })));
      expect(results.map((result) => result.data?.startModule.status)).toEqual(Array(20).fill('RUNNING'));
      expect(new Set(results.map((result) => result.data?.startModule.containerId)).size).toBe(1);
      const containers = await engine.docker.listContainers({ all: true, filters: { label: [`berth.project=${berth.project}`, 'berth.module=manual'] } });
      expect(containers).toHaveLength(1);
    });

    it('starts a paused module by unpausing it', async () => {
      const { containerId } = await status('web');
      await engine.cli('pause', containerId);
      await waitFor(async () => (await status('web'))?.status === 'EXITED', 'web to show as paused');
      const started = await berth.gql(StartModuleDocument, { name: 'web' });
      expect(started.data?.startModule).toMatchObject({ status: 'RUNNING', containerId });
    });

    it('answers a subscription with a syntax error on its own, keeping the socket for the others', async () => {
      const broken = subscribe(client, 'subscription { moduleStatusChanged(');
      await waitFor(() => broken.errors.length > 0, 'the syntax error');
      expect(JSON.stringify(broken.errors)).toContain('Syntax Error');
      const feed = subscribe(client, 'subscription { moduleStatusChanged(names: ["web"], initial: true) { status } }');
      await waitFor(() => feed.received.length > 0, 'a snapshot on the same socket');
      expect(feed.received[0]?.status).toBe('RUNNING');
      feed.dispose();
    });

    it('answers MODULE_NOT_FOUND to a subscription naming an unknown module, through the same error masking as HTTP', async () => {
      const feed = subscribe(client, 'subscription { moduleStatusChanged(names: ["nope"]) { status } }');
      await waitFor(() => feed.errors.length > 0 || feed.isCompleted(), 'the subscription error');
      expect(JSON.stringify(feed.errors)).toContain('MODULE_NOT_FOUND');
    });
  });
}
