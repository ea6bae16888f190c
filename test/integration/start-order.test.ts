import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleStatusChange } from '../../src/modules/module-store.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';

// dependsOn on the engine: the order is read from the containers' own start and finish times.
describe('start order, jobs and batches on the engine', () => {
  let berth: Harness;
  const changes: ModuleStatusChange[] = [];

  beforeAll(async () => {
    berth = createHarness(`modules:
  db:
    kind: store{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", "sleep 1; touch /ready; exec sh /serve.sh"]
    healthcheck: { test: "test -f /ready", interval: 200ms, retries: 50 }
  migrate:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", "sleep 0.5"]
    dependsOn: { db: healthy }
  web:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    dependsOn: { db: healthy, migrate: completed }
  broken:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    command: ["sh", "-c", "exit 1"]
  app:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    dependsOn: { broken: completed }
  lone:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
`);
    await berth.ready();
    berth.store.subscribe((change) => changes.push(change));
  });
  afterAll(() => berth?.cleanup());

  const state = async (module: string) => (await docker.getContainer(berth.store.get(module)!.containerId!).inspect()).State;
  const startModules = (names: string[]) =>
    berth.gql<{ startModules: ({ name: string; status: string; health: string } | null)[] }>(
      'mutation($names: [String!]!) { startModules(names: $names) { name status health } }',
      { names },
    );

  it('startModule(web) starts db, waits for it to be healthy, runs migrate to exit 0, then starts web', async () => {
    const { data, errors } = await berth.gql('mutation { startModule(name: "web") { name status } }');
    expect(errors).toBeUndefined();
    expect(data?.startModule).toEqual({ name: 'web', status: 'RUNNING' });
    const [db, migrate, web] = await Promise.all(['db', 'migrate', 'web'].map(state));
    expect(db!.Health?.Status).toBe('healthy');
    expect(migrate).toMatchObject({ Status: 'exited', ExitCode: 0 });
    // db was healthy (1 s of warm-up) before migrate began; migrate had finished before web began.
    expect(Date.parse(migrate!.StartedAt) - Date.parse(db!.StartedAt)).toBeGreaterThanOrEqual(1000);
    expect(Date.parse(web!.StartedAt)).toBeGreaterThanOrEqual(Date.parse(migrate!.FinishedAt));
  });

  it('fails with DEPENDENCY_FAILED when the job exits 1, and never creates the dependent', async () => {
    const { errors } = await berth.gql('mutation { startModule(name: "app") { name status } }');
    expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'DEPENDENCY_FAILED' } })]);
    expect(errors![0]!.message).toMatch(/"app" needs "broken" completed.*exited with code 1/);
    const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${berth.project}`, 'berth.module=app'] } });
    expect(containers).toEqual([]);
    expect(berth.store.get('app')!.status).toBe('NOT_CREATED');
  });

  it('startModules answers each module, a failure in place, and starts the others', async () => {
    const { data, errors } = await startModules(['lone', 'app', 'nope']);
    expect(data?.startModules).toEqual([{ name: 'lone', status: 'RUNNING', health: 'NONE' }, null, null]);
    expect(errors?.map((error) => [error.path, error.extensions?.code])).toEqual([
      [['startModules', 1], 'DEPENDENCY_FAILED'],
      [['startModules', 2], 'MODULE_NOT_FOUND'],
    ]);
  });

  it('stopModules stops the dependents of the batch first, and startModules brings them back in order', async () => {
    changes.length = 0;
    const { errors } = await berth.gql('mutation { stopModules(names: ["db", "web"], timeoutSeconds: 0) { name status } }');
    expect(errors).toBeUndefined();
    const stopped = changes.filter((change) => change.status === 'EXITED').map((change) => change.module.spec.name);
    expect(stopped).toEqual(['web', 'db']);
    changes.length = 0;
    const again = await startModules(['web', 'db']);
    expect(again.errors).toBeUndefined();
    expect(again.data?.startModules).toEqual([
      { name: 'web', status: 'RUNNING', health: 'NONE' },
      // Its own start ends once it runs; web's waited for it to be healthy.
      { name: 'db', status: 'RUNNING', health: expect.stringMatching(/^(STARTING|HEALTHY)$/) },
    ]);
    expect(berth.store.get('db')!.health).toBe('HEALTHY');
    // migrate completed from this docker.yaml already: it is not run again.
    const running = changes.filter((change) => change.status === 'RUNNING').map((change) => change.module.spec.name);
    expect(new Set(running)).toEqual(new Set(['db', 'web']));
    expect(running.indexOf('db')).toBeLessThan(running.indexOf('web'));
  });

  it('shows what a module depends on', async () => {
    const { data } = await berth.gql('{ module(name: "web") { dependsOn { module { name status } condition } } }');
    expect(data?.module.dependsOn).toEqual([
      { module: { name: 'db', status: 'RUNNING' }, condition: 'HEALTHY' },
      { module: { name: 'migrate', status: 'EXITED' }, condition: 'COMPLETED' },
    ]);
  });

  it('starts a dependent of a paused healthy dependency, past the unhealthy verdict the engine shows on unpause', async () => {
    await waitFor(() => berth.store.get('db')!.health === 'HEALTHY', 'db to be healthy');
    await docker.getContainer(berth.store.get('db')!.containerId!).pause();
    await waitFor(() => berth.store.get('db')!.status === 'EXITED', 'the pause to be seen');
    await berth.gql('mutation { stopModule(name: "web", timeoutSeconds: 0) { status } }');
    const { errors } = await berth.gql('mutation { startModule(name: "web") { status } }');
    expect(errors).toBeUndefined();
    expect((await state('db')).Health?.Status).toBe('healthy');
  });
});
