import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModuleDetailDocument, StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { absentImage, createHarness, freePort, servedEnv, testImage, type Harness } from './harness.ts';
import type { TestEngine } from './test-engine.ts';

const moduleFields = 'name status stopped containerId startedAt exitCode ports { name in out protocol }';

/**
 * create, start, stop and start again, each status, and starts over what events have not told yet: run
 * against the suite's Docker engine (lifecycle.test.ts) and Podman (podman.test.ts). `engineOf` is called
 * before the cases, once the engine is up.
 */
export function describeLifecycle(engineName: string, engineOf: () => TestEngine): void {
  describe(`module lifecycle on ${engineName}`, () => {
    let berth: Harness;
    let engine: TestEngine;
    let webPort: number;

    beforeAll(async () => {
      engine = engineOf();
      webPort = await freePort();
      berth = createHarness(
        `modules:
  web:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    envs:
      GREETING: \${GREETING}
      FALLBACK: \${UNSET_IN_TEST:-from-default}
      LITERAL: 42
    ports:
      http: { in: 8080, out: ${webPort} }
  tts:
    kind: piper{{run}}
    image: ${absentImage}
  idle:
    kind: idle{{run}}
    image: ${testImage}
    autostart: false
`,
        { env: { GREETING: 'hello-from-env' }, connection: engine.connection, engine: engine.docker },
      );
      await berth.ready();
    });
    afterAll(() => berth.cleanup());

    it('shows a module whose image is not on the engine as NOT_LOADED and refuses to start it', async () => {
      const listed = await berth.gql(ModuleDetailDocument, { name: 'tts' });
      expect(listed.data?.module).toMatchObject({ status: 'NOT_LOADED', stopped: false });

      const started = await berth.gql(StartModuleDocument, { name: 'tts' });
      expect(started.errors?.[0]?.extensions?.code).toBe('IMAGE_NOT_LOADED');
      expect(started.errors?.[0]?.message).toContain(absentImage);
    });

    it('creates and starts a NOT_CREATED module, publishing its port with the interpolated envs', async () => {
      const before = await berth.gql(`{ module(name: "web") { ${moduleFields} } }`);
      expect(before.data?.module).toMatchObject({ status: 'NOT_CREATED', stopped: true, containerId: null });

      const started = await berth.gql(`mutation { startModule(name: "web") { ${moduleFields} } }`);
      expect(started.errors).toBeUndefined();
      expect(started.data?.startModule).toMatchObject({
        name: 'web',
        status: 'RUNNING',
        stopped: false,
        exitCode: null,
        ports: [{ name: 'http', in: 8080, out: webPort, protocol: 'TCP' }],
      });
      expect(Date.parse(started.data?.startModule.startedAt)).toBeGreaterThan(Date.now() - 60_000);

      const env = await servedEnv(webPort);
      expect(env).toContain('GREETING=hello-from-env');
      expect(env).toContain('FALLBACK=from-default');
      expect(env).toContain('LITERAL=42');

      const container = await engine.docker.getContainer(`web_http${berth.run}`).inspect();
      expect(container.Id).toBe(started.data?.startModule.containerId);
      expect(container.Config.Labels).toMatchObject({ 'berth.managed': 'true', 'berth.project': berth.project, 'berth.module': 'web' });
    });

    it('starting a running module succeeds and changes nothing', async () => {
      const first = await berth.gql(StartModuleDocument, { name: 'web' });
      const second = await berth.gql(StartModuleDocument, { name: 'web' });
      expect(second.data?.startModule).toEqual(first.data?.startModule);
      expect(second.data?.startModule.status).toBe('RUNNING');
    });

    it('stops a running module to EXITED, and stopping it again succeeds', async () => {
      const stopped = await berth.gql(StopModuleDocument, { name: 'web', timeoutSeconds: 5 });
      expect(stopped.data?.stopModule).toMatchObject({ status: 'EXITED', stopped: true, exitCode: 0 });
      await expect(fetch(`http://127.0.0.1:${webPort}/env.txt`)).rejects.toThrow();

      const again = await berth.gql(StopModuleDocument, { name: 'web' });
      expect(again.data?.stopModule).toMatchObject({ status: 'EXITED', exitCode: 0 });
    });

    it('starts a stopped module again in the same container', async () => {
      const before = await berth.gql(ModuleDetailDocument, { name: 'web' });
      const started = await berth.gql(StartModuleDocument, { name: 'web' });
      expect(started.data?.startModule).toMatchObject({ status: 'RUNNING', containerId: before.data?.module.containerId });
      expect(await servedEnv(webPort)).toContain('GREETING=hello-from-env');
    });

    it('restarts a running module in the same container, with a new start time', async () => {
      const before = (await berth.gql(ModuleDetailDocument, { name: 'web' })).data!.module;
      const restarted = await berth.gql(`mutation { restartModule(name: "web", timeoutSeconds: 0) { ${moduleFields} } }`);
      expect(restarted.errors).toBeUndefined();
      expect(restarted.data?.restartModule).toMatchObject({ status: 'RUNNING', containerId: before.containerId, exitCode: null });
      expect(Date.parse(restarted.data?.restartModule.startedAt)).toBeGreaterThan(Date.parse(before.startedAt!));
      expect(await servedEnv(webPort)).toContain('GREETING=hello-from-env');
    });

    it('starts from what the engine holds when its events have not reached berth yet: a container just removed or paused', async () => {
      for (let round = 0; round < 3; round++) {
        await berth.gql(StopModuleDocument, { name: 'web', timeoutSeconds: 0 });
        const { containerId } = (await berth.gql(ModuleDetailDocument, { name: 'web' })).data!.module;
        await engine.docker.getContainer(containerId!).remove({ force: true });
        const started = await berth.gql(StartModuleDocument, { name: 'web' });
        expect(started.data?.startModule.status).toBe('RUNNING');
        expect(started.data?.startModule.containerId).not.toBe(containerId);
      }
      const { containerId } = (await berth.gql(ModuleDetailDocument, { name: 'web' })).data!.module;
      await engine.docker.getContainer(containerId!).pause();
      const unpaused = await berth.gql(StartModuleDocument, { name: 'web' });
      expect(unpaused.data?.startModule).toMatchObject({ status: 'RUNNING', containerId });
      expect((await engine.docker.getContainer(containerId!).inspect()).State).toMatchObject({ Running: true, Paused: false });
      expect(await servedEnv(webPort)).toContain('GREETING=hello-from-env');
    });

    it('stopping a module that has no container succeeds and leaves it NOT_CREATED', async () => {
      const stopped = await berth.gql(StopModuleDocument, { name: 'idle' });
      expect(stopped.data?.stopModule).toMatchObject({ status: 'NOT_CREATED', containerId: null });
    });

    it('filters modules by status', async () => {
      const running = await berth.gql('{ modules(status: RUNNING) { name } }');
      expect(running.data?.modules).toEqual([{ name: 'web' }]);
      const all = await berth.gql('{ modules { name status } }');
      expect(all.data?.modules).toEqual([
        { name: 'web', status: 'RUNNING' },
        { name: 'tts', status: 'NOT_LOADED' },
        { name: 'idle', status: 'NOT_CREATED' },
      ]);
    });

    it('answers MODULE_NOT_FOUND for a module not in docker.yaml', async () => {
      for (const operation of ['{ module(name: "nope") { name } }', 'mutation { startModule(name: "nope") { name } }', 'mutation { stopModule(name: "nope") { name } }']) {
        const result = await berth.gql(operation);
        expect(result.errors?.[0]?.extensions?.code).toBe('MODULE_NOT_FOUND');
        expect(result.errors?.[0]?.message).toContain('"nope"');
      }
    });

    it('answers BAD_USER_INPUT for a stop timeout out of range', async () => {
      const result = await berth.gql('mutation { stopModule(name: "web", timeoutSeconds: -1) { name } }');
      expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      const still = await berth.gql(ModuleDetailDocument, { name: 'web' });
      expect(still.data?.module.status).toBe('RUNNING');
    });

    it('serialises concurrent starts of one module into one container', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, () => berth.gql(StartModuleDocument, { name: 'idle' })));
      const ids = new Set(results.map((result) => result.data?.startModule.containerId));
      expect(results.every((result) => result.data?.startModule.status === 'RUNNING')).toBe(true);
      expect(ids.size).toBe(1);
      const containers = await engine.docker.listContainers({ all: true, filters: { label: [`berth.project=${berth.project}`, 'berth.module=idle'] } });
      expect(containers).toHaveLength(1);
    });
  });
}
