// The service image, end to end: built from the repository's Dockerfile with testcontainers, run
// with the engine socket, driven from the host. The modules it starts are sibling containers.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { print } from 'graphql';
import { createClient } from 'graphql-ws';
import { GenericContainer, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import WebSocket from 'ws';
import { ensureBaseImage, provideBuildCa } from '../../scripts/image.ts';
import { newToken } from '../../src/auth/tokens.ts';
import { ModuleStatusChangedDocument, StartModuleDocument, StopModuleDocument, type ModuleStatusChangedSubscription } from '../generated/operations.ts';
import { docker, freePort, removeProject, servedEnv, testImage, waitFor } from './harness.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const operator = newToken('e2e', 'operator');
const project = `e2e-${Math.random().toString(36).slice(2, 8)}`;

describe('the service image', () => {
  let berth: StartedTestContainer;
  let url: string;
  let modulePort: number;

  const gql = async <T,>(query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operator.token}` },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as { data?: T; errors?: unknown[] };
  };

  beforeAll(async () => {
    await ensureBaseImage(docker);
    await provideBuildCa();
    const image = await GenericContainer.fromDockerfile(root).build(`berth-e2e:${project}`, { deleteOnExit: false });
    modulePort = await freePort();
    const proxySocket = inject('engineProxySocket');
    berth = await image
      .withEnvironment({ BERTH_TOKENS_FILE: '/app/tokens.yaml', DOCKER_HOST: 'unix:///run/engine/engine.sock', LOG_LEVEL: 'info' })
      // The engine through the test's allowlisting proxy: the socket's folder, not the socket, is mounted.
      .withBindMounts([{ source: dirname(proxySocket), target: '/run/engine' }])
      .withCopyContentToContainer([
        { content: `tokens:\n${operator.line}\n`, target: '/app/tokens.yaml' },
        {
          content: `project: ${project}\nmodules:\n  web:\n    kind: web-${project}\n    image: ${testImage}\n    autostart: false\n    envs:\n      GREETING: from the image\n    ports:\n      http: { in: 8080, out: ${modulePort} }\n`,
          target: '/app/docker.yaml',
        },
      ])
      .withExposedPorts(4000)
      .withWaitStrategy(Wait.forHttp('/ready', 4000).forStatusCode(200))
      .withStartupTimeout(60_000)
      .start();
    url = `http://${berth.getHost()}:${berth.getMappedPort(4000)}/graphql`;
  }, 600_000);
  afterAll(async () => {
    await berth?.stop({ timeout: 10_000 });
    await removeProject(project);
    await docker.getImage(`berth-e2e:${project}`).remove({ force: true }).catch(() => {});
  });

  it('runs as the unprivileged node user, answers its HEALTHCHECK, and refuses requests without a token', async () => {
    const details = await docker.getContainer(berth.getId()).inspect();
    expect(details.Config.User).toBe('node');
    await waitFor(async () => (await docker.getContainer(berth.getId()).inspect()).State.Health?.Status === 'healthy', 'the HEALTHCHECK to pass', 60_000);
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ modules { name } }"}' })).status).toBe(401);
  });

  it('serves the dashboard built into the image: the page at / and its script, without a token', async () => {
    const origin = new URL(url).origin;
    const page = await fetch(`${origin}/`);
    expect(page.status).toBe(200);
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${origin}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  it('starts and stops a sibling container from the host, and tells a subscriber', async () => {
    const client = createClient({ url: url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams: { authorization: operator.token } });
    const seen: string[] = [];
    client.subscribe<ModuleStatusChangedSubscription>(
      { query: print(ModuleStatusChangedDocument), variables: { names: ['web'], initial: true } },
      { next: ({ data }) => data && seen.push(`${data.moduleStatusChanged.previous}>${data.moduleStatusChanged.status}`), error: () => {}, complete: () => {} },
    );
    try {
      await waitFor(() => seen.includes('null>NOT_CREATED'), 'the opening snapshot');
      const started = await gql<{ startModule: { status: string; containerId: string } }>(print(StartModuleDocument), { name: 'web' });
      expect(started.data?.startModule.status).toBe('RUNNING');
      expect((await docker.getContainer(started.data!.startModule.containerId).inspect()).State.Running).toBe(true);
      expect(await servedEnv(modulePort)).toContain('GREETING=from the image');
      await waitFor(() => seen.includes('HANDLING>RUNNING'), 'RUNNING through the subscription');

      const stopped = await gql<{ stopModule: { status: string } }>(print(StopModuleDocument), { name: 'web', timeoutSeconds: 5 });
      expect(stopped.data?.stopModule.status).toBe('EXITED');
      expect((await docker.getContainer(started.data!.startModule.containerId).inspect()).State.Running).toBe(false);
      await waitFor(() => seen.includes('HANDLING>EXITED'), 'EXITED through the subscription');
    } finally {
      await client.dispose();
    }
  });

  it('shuts down on SIGTERM as PID 1, with exit code 0', async () => {
    await docker.getContainer(berth.getId()).stop({ t: 10 });
    const details = await docker.getContainer(berth.getId()).inspect();
    expect(details.State.ExitCode).toBe(0);
  });
});
