// Generated GraphQL arguments and operation sequences against a real engine: berth always answers
// with a known error code or data, never crashes, and never leaves a half-made module behind.
import { createServer, type Server } from 'node:net';
import fc from 'fast-check';
import { print } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModuleDetailDocument, StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, freePort, testImage, type Harness } from './harness.ts';

const knownCodes = new Set(['MODULE_NOT_FOUND', 'IMAGE_NOT_LOADED', 'NAME_CONFLICT', 'ENGINE_UNAVAILABLE', 'ENGINE_ERROR', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED']);

describe('generated arguments and operation sequences', () => {
  let berth: Harness;
  let blocker: Server;

  beforeAll(async () => {
    // `clash` publishes a host port that is already taken: its container is created, and its start fails.
    const taken = await freePort();
    blocker = createServer().listen(taken, '0.0.0.0');
    berth = createHarness(`modules:
  web:
    kind: web{{run}}
    image: ${testImage}
    autostart: false
  clash:
    kind: clash{{run}}
    image: ${testImage}
    autostart: false
    ports:
      http: { in: 8080, out: ${taken} }
  ghost:
    kind: ghost{{run}}
    image: berth-test/never-built:{{run}}
`);
    await berth.ready();
  });
  afterAll(async () => {
    await berth?.cleanup();
    blocker?.close();
  });

  /** Every error has a code berth documents; an answer always has data or errors. */
  function expectExplained(result: Awaited<ReturnType<Harness['gql']>>) {
    expect(result.data !== undefined || result.errors !== undefined).toBe(true);
    for (const error of result.errors ?? []) {
      expect(knownCodes.has(error.extensions?.code ?? '') || /^(Variable|Argument) "\$?\w+"|cannot represent|Expected/.test(error.message), JSON.stringify(error)).toBe(true);
    }
  }

  it('answers any module name and timeout with data or a documented error', async () => {
    const name = fc.oneof(fc.constantFrom('web', 'clash', 'ghost', '', ' web', 'WEB'), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
    const timeout = fc.oneof(fc.integer({ min: -10, max: 4000 }), fc.constantFrom(2 ** 31, -(2 ** 31), Number.MAX_SAFE_INTEGER), fc.double(), fc.constant(null));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('detail', 'start', 'stop'), name, timeout, async (operation, moduleName, timeoutSeconds) => {
        const result =
          operation === 'detail'
            ? await berth.gql(ModuleDetailDocument, { name: moduleName })
            : operation === 'start'
              ? await berth.gql(StartModuleDocument, { name: moduleName })
              : await berth.gql(print(StopModuleDocument), { name: moduleName, timeoutSeconds });
        expectExplained(result);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps at most one container per module, in the state the engine reports, whatever the sequence of starts and stops', async () => {
    const step = fc.record({ operation: fc.constantFrom('start', 'stop'), module: fc.constantFrom('web', 'clash', 'ghost') });
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 6 }), async (steps) => {
        await Promise.all(
          steps.map(async ({ operation, module }) =>
            expectExplained(operation === 'start' ? await berth.gql(StartModuleDocument, { name: module }) : await berth.gql(StopModuleDocument, { name: module, timeoutSeconds: 0 })),
          ),
        );
        for (const module of ['web', 'clash', 'ghost']) {
          const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${berth.project}`, `berth.module=${module}`] } });
          expect(containers.length, `${module} containers`).toBeLessThanOrEqual(1);
          const shown = (await berth.gql(ModuleDetailDocument, { name: module })).data!.module;
          if (containers[0]) {
            // A container that was created and failed to start stays visible, as EXITED, with its id.
            expect(shown.containerId).toBe(containers[0].Id);
            expect(shown.status).toBe(containers[0].State === 'running' ? 'RUNNING' : 'EXITED');
          } else {
            expect(shown.containerId).toBeNull();
            expect(['NOT_CREATED', 'NOT_LOADED']).toContain(shown.status);
          }
        }
        const clash = await berth.gql(StartModuleDocument, { name: 'clash' });
        expect(clash.errors?.[0]?.extensions?.code).toBe('ENGINE_ERROR');
      }),
      { numRuns: 8 },
    );
  });
});
