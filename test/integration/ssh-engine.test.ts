import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';
import { startSshServer, type SshServer } from './ssh-server.ts';

// An engine reached as `docker -H ssh://…` reaches one: an OpenSSH server of the test's own on 127.0.0.1, signed in
// to with the agent's key, and `docker system dial-stdio` on the other side (this machine's engine). berth trusts
// only the host key known_hosts lists, as ssh does. Not behind the test proxy, which speaks unix sockets.
describe('an engine over ssh', () => {
  let server: SshServer;
  const berths: Harness[] = [];
  const saved = { agent: process.env.SSH_AUTH_SOCK, knownHosts: process.env.BERTH_SSH_KNOWN_HOSTS };

  const berthWith = (knownHosts: string, logger = pino({ level: 'silent' })) => {
    process.env.SSH_AUTH_SOCK = server.agentSocket;
    process.env.BERTH_SSH_KNOWN_HOSTS = knownHosts;
    const berth = createHarness(
      `engines:
  remote:
    host: ${server.host}
modules:
  crawler:
    kind: svc{{run}}
    image: ${testImage}
    engine: remote
`,
      // berth's own watchdog (5 s): a new channel starts the docker CLI on the engine's host, which can take
      // longer than the harness's quick 500 ms on a loaded machine.
      { logger, watcher: { watchdogMs: 5_000 } },
    );
    berths.push(berth);
    return berth;
  };

  beforeAll(async () => {
    server = await startSshServer();
  });
  afterAll(async () => {
    for (const berth of berths) await berth.cleanup();
    await server?.dispose();
    for (const [name, value] of [['SSH_AUTH_SOCK', saved.agent], ['BERTH_SSH_KNOWN_HOSTS', saved.knownHosts]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('signs in with the agent, trusts the host key known_hosts lists, and runs its module there', async () => {
    const berth = berthWith(server.knownHosts);
    const remote = berth.services.engines.get('remote')!;
    await waitFor(() => remote.store.get('crawler')?.status === 'RUNNING', 'the autostart over ssh', 30_000);
    const answer = await berth.gql('{ engines { name reachable version } modules { name engine status containerId } }');
    expect(answer.data?.engines[1]).toEqual({ name: 'remote', reachable: true, version: (await docker.version()).Version });
    expect(answer.data?.modules).toMatchObject([{ name: 'crawler', engine: 'remote', status: 'RUNNING' }]);
    expect((await docker.getContainer(answer.data?.modules[0].containerId).inspect()).Config.Labels['berth.module']).toBe('crawler');
  });

  it('refuses a server whose host key known_hosts does not list for it, and says so', async () => {
    const warnings: string[] = [];
    const berth = berthWith(server.strangerKnownHosts, pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) }));
    await berth.ready();
    await waitFor(() => warnings.some((line) => line.includes('"engine":"remote"')), 'a warning about the remote engine', 30_000);
    expect(warnings.find((line) => line.includes('"engine":"remote"'))).toMatch(/verification failed/i);
    expect((await berth.gql('{ engines { name reachable } }')).data?.engines).toEqual([{ name: 'local', reachable: true }, { name: 'remote', reachable: false }]);
  });
});
