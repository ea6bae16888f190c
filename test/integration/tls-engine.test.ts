import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineTls } from '../../src/config/module-spec.ts';
import { createHarness, testImage, waitFor, type Harness } from './harness.ts';
import { startSecondEngine, type SecondEngine } from './second-engine.ts';

// An engine reached as the docker CLI reaches a remote one: tcp:// with --tlsverify, and berth's client
// certificate from docker.yaml. Not behind the test proxy, which speaks unix sockets: engines.test.ts proves
// the allowlist for a second engine.
describe('an engine over TCP with TLS client certificates', () => {
  let engine: SecondEngine;
  const berths: Harness[] = [];

  const yaml = (host: string, { ca, cert, key }: EngineTls) => `engines:
  secure:
    host: ${host}
    tls: { ca: ${ca}, cert: ${cert}, key: ${key} }
modules:
  crawler:
    kind: svc{{run}}
    image: ${testImage}
    engine: secure
`;

  beforeAll(async () => {
    engine = await startSecondEngine({ tls: true });
  });
  afterAll(async () => {
    for (const berth of berths) await berth.cleanup();
    await engine?.dispose();
  });

  it('signs in with the client certificate, follows the engine and runs its module there', async () => {
    const { host, client } = engine.tcp!;
    const berth = createHarness(yaml(host, client));
    berths.push(berth);
    await waitFor(() => berth.services.engines.get('secure')!.store.synced, 'the first sync over TLS', 20_000);
    await waitFor(() => berth.services.engines.get('secure')!.store.get('crawler')?.status === 'RUNNING', 'the autostart over TLS', 20_000);
    const answer = await berth.gql('{ engines { name reachable version } modules { name engine status } }');
    expect(answer.data?.engines[1]).toEqual({ name: 'secure', reachable: true, version: (await engine.docker.version()).Version });
    expect(answer.data?.modules).toEqual([{ name: 'crawler', engine: 'secure', status: 'RUNNING' }]);
    const [container] = await engine.docker.listContainers({ filters: { label: [`berth.project=${berth.project}`] } });
    expect(container?.Labels['berth.module']).toBe('crawler');
  });

  it('shows an engine that refuses its certificate as unreachable, says why in the log, and keeps the others', async () => {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(line) });
    const { host, stranger } = engine.tcp!;
    const berth = createHarness(yaml(host, stranger), { logger });
    berths.push(berth);
    await berth.ready();
    await waitFor(() => warnings.some((line) => line.includes('"engine":"secure"')), 'a warning about the secure engine', 20_000);
    const answer = await berth.gql('{ engines { name reachable } }');
    expect(answer.data?.engines).toEqual([{ name: 'local', reachable: true }, { name: 'secure', reachable: false }]);
    expect(warnings.find((line) => line.includes('"engine":"secure"'))).toMatch(/certificate|tls|handshake/i);
  });
});
