import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartModuleDocument, StopModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';

const autostarted = ['auto-a', 'auto-b', 'auto-c'];
const manual = ['man-a', 'man-b', 'man-c'];

const declare = (name: string, autostart: boolean) => `  ${name}:
    kind: svc{{run}}
    image: ${testImage}
    autostart: ${autostart}
`;
const yaml = `modules:\n${autostarted.map((name) => declare(name, true)).join('')}${manual.map((name) => declare(name, false)).join('')}`;

// Two berths on one engine and one docker.yaml, as a platform runs them for availability: whichever
// acts first, each module has one container, and both berths see the same statuses.
describe('two berth replicas on one engine', () => {
  let first: Harness;
  let second: Harness;
  // What both berths log at warn level and above: a lost race must not show as a failed autostart.
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, {
    write: (line: string) => {
      const { msg, err } = JSON.parse(line) as { msg: string; err?: { message: string } };
      warnings.push(err ? `${msg}: ${err.message}` : msg);
    },
  });

  beforeAll(async () => {
    first = createHarness(yaml, { logger });
    second = createHarness(yaml, { run: first.run, logger });
    await Promise.all([first.ready(), second.ready()]);
  });
  afterAll(async () => {
    await second?.cleanup();
    await first?.cleanup();
  });

  const containersOf = async (module: string) =>
    docker.listContainers({ all: true, filters: { label: [`berth.project=${first.project}`, `berth.module=${module}`] } });
  const statusIn = (berth: Harness, module: string) => berth.store.get(module)?.status;
  const bothShow = (module: string, status: string) => statusIn(first, module) === status && statusIn(second, module) === status;

  it('autostart from both makes one running container per module', async () => {
    for (const module of autostarted) await waitFor(() => bothShow(module, 'RUNNING'), `${module} to run in both berths`, 20_000);
    for (const module of autostarted) expect((await containersOf(module)).map((container) => container.State)).toEqual(['running']);
    expect(warnings).toEqual([]);
  });

  it('concurrent startModule from both makes one container per module, and both answer RUNNING', async () => {
    const starts = manual.flatMap((name) => [first, second].map((berth) => berth.gql(StartModuleDocument, { name })));
    const answers = await Promise.all(starts);
    expect(answers.flatMap((answer) => answer.errors ?? [])).toEqual([]);
    expect(answers.map((answer) => answer.data?.startModule.status)).toEqual(Array(starts.length).fill('RUNNING'));
    for (const module of manual) {
      const containers = await containersOf(module);
      expect(containers.map((container) => container.State)).toEqual(['running']);
      const ids = answers.filter((answer) => answer.data?.startModule.name === module).map((answer) => answer.data?.startModule.containerId);
      expect(ids).toEqual([containers[0]!.Id, containers[0]!.Id]);
    }
  });

  it('converges on what either one does', async () => {
    const stopped = await first.gql(StopModuleDocument, { name: 'man-a', timeoutSeconds: 0 });
    expect(stopped.data?.stopModule.status).toBe('EXITED');
    await waitFor(() => bothShow('man-a', 'EXITED'), 'both to show the stop');
    const started = await second.gql(StartModuleDocument, { name: 'man-a' });
    expect(started.data?.startModule.status).toBe('RUNNING');
    await waitFor(() => bothShow('man-a', 'RUNNING'), 'both to show the start');
    expect(first.store.list().map((module) => module.status)).toEqual(second.store.list().map((module) => module.status));
  });
});
