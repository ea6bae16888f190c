import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleStatusChange } from '../../src/modules/module-store.ts';
import { StartModuleDocument } from '../generated/operations.ts';
import { createHarness, docker, freePort, servedEnv, testImage, waitFor, type Harness } from './harness.ts';

// The workload keys of docker.yaml, each proven by what the engine does with the container.
describe('workload keys on the engine', () => {
  let berth: Harness;
  let loopbackPort: number;
  const changes: ModuleStatusChange[] = [];

  beforeAll(async () => {
    loopbackPort = await freePort();
    berth = createHarness(`modules:
  local:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    ports:
      http: { in: 8080, out: ${loopbackPort}, host: 127.0.0.1 }
  whoami:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    user: "7"
    command: ["sh", "-c", "exit $(id -u)"]
  flaky:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    restart: on-failure:2
    command: sh -c "exit 3"
  limited:
    kind: http{{run}}
    image: ${testImage}
    autostart: false
    resources: { cpus: 0.5, memory: 64m }
  placed:
    kind: job{{run}}
    image: ${testImage}
    autostart: false
    workdir: /etc
    entrypoint: ["/bin/sh", "-c"]
    command: ['test "$(pwd)" = /etc && exit 42']
`);
    await berth.ready();
    berth.store.subscribe((change) => changes.push(change));
  });
  afterAll(() => berth?.cleanup());

  const inspect = async (module: string) => docker.getContainer(berth.store.get(module)!.containerId!).inspect();
  const exited = (module: string, code: number) => () => {
    const state = berth.store.get(module)!;
    return state.status === 'EXITED' && state.exitCode === code;
  };

  it('runs the command as the user: the exit code is the uid', async () => {
    expect((await berth.gql(StartModuleDocument, { name: 'whoami' })).errors).toBeUndefined();
    await waitFor(exited('whoami', 7), 'whoami to exit with its uid');
    const { Config } = await inspect('whoami');
    expect([Config.User, Config.Cmd]).toEqual(['7', ['sh', '-c', 'exit $(id -u)']]);
  });

  it('has the engine restart an on-failure container that exits non-zero, up to its limit, and follows it', async () => {
    expect((await berth.gql(StartModuleDocument, { name: 'flaky' })).errors).toBeUndefined();
    await waitFor(async () => (await inspect('flaky')).RestartCount === 2 && (await inspect('flaky')).State.Status === 'exited', 'two restarts', 30_000);
    await waitFor(exited('flaky', 3), 'berth to show the last exit');
    const { HostConfig, Config } = await inspect('flaky');
    expect([HostConfig.RestartPolicy, Config.Cmd]).toEqual([{ Name: 'on-failure', MaximumRetryCount: 2 }, ['sh', '-c', 'exit 3']]);
    // The two runs the engine made on its own reached subscribers as RUNNING, each followed by EXITED.
    const seen = changes.filter((change) => change.module.spec.name === 'flaky').map((change) => change.status);
    expect(seen.filter((status) => status === 'RUNNING').length).toBeGreaterThanOrEqual(2);
    expect(seen.at(-1)).toBe('EXITED');
  });

  it('gives the container its CPU and memory limits', async () => {
    const started = await berth.gql(StartModuleDocument, { name: 'limited' });
    expect(started.data?.startModule.status).toBe('RUNNING');
    const { HostConfig } = await inspect('limited');
    expect([HostConfig.NanoCpus, HostConfig.Memory]).toEqual([500_000_000, 64 * 1024 ** 2]);
  });

  it('restarts a running module as one operation: the same container, started again, HANDLING throughout', async () => {
    const started = await berth.gql(StartModuleDocument, { name: 'limited' });
    const before = await inspect('limited');
    const from = changes.length;
    const restarted = await berth.gql('mutation { restartModule(name: "limited", timeoutSeconds: 0) { status containerId } }');
    expect(restarted.data?.restartModule).toEqual({ status: 'RUNNING', containerId: started.data?.startModule.containerId });
    const after = await inspect('limited');
    expect(new Date(after.State.StartedAt).getTime()).toBeGreaterThan(new Date(before.State.StartedAt).getTime());
    // Subscribers see the operation begin and end; events of the stop that arrive late may add a pair between.
    const seen = changes.slice(from).filter((change) => change.module.spec.name === 'limited').map((change) => change.status);
    expect([seen[0], seen.at(-1)]).toEqual(['HANDLING', 'RUNNING']);
  });

  it('publishes a port on the host address it names only', async () => {
    const started = await berth.gql('mutation { startModule(name: "local") { status ports { name out host } } }');
    expect(started.data?.startModule).toEqual({ status: 'RUNNING', ports: [{ name: 'http', out: loopbackPort, host: '127.0.0.1' }] });
    const { HostConfig, NetworkSettings } = await inspect('local');
    expect(HostConfig.PortBindings['8080/tcp']).toEqual([{ HostIp: '127.0.0.1', HostPort: String(loopbackPort) }]);
    expect(NetworkSettings.Ports['8080/tcp']?.map((binding) => binding.HostIp)).toEqual(['127.0.0.1']);
    expect(await servedEnv(loopbackPort)).toContain('HOSTNAME=');
  });

  it('runs the entrypoint with the command in the working directory', async () => {
    expect((await berth.gql(StartModuleDocument, { name: 'placed' })).errors).toBeUndefined();
    await waitFor(exited('placed', 42), 'placed to exit 42 from /etc');
    const { Config } = await inspect('placed');
    expect([Config.WorkingDir, Config.Entrypoint]).toEqual(['/etc', ['/bin/sh', '-c']]);
  });
});
