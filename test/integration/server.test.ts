import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { serviceCommand } from '../../scripts/service-command.ts';
import { StartModuleDocument } from '../generated/operations.ts';
import { createHarness, freePort, testImage, type Harness } from './harness.ts';

// The built service, run as `npm start` runs it (the integration setup compiles it first).
const [program, args] = await serviceCommand();
const frontendQuery = '{ modules { name status ports { name out } } }';

describe('over a real port', () => {
  let berth: Harness;
  let running: RunningServer;
  afterAll(async () => {
    await running?.close();
    await berth?.cleanup();
  });

  it('answers the frontend query, /health and /ready', async () => {
    const port = await freePort();
    berth = createHarness(`modules:
  tts:
    kind: piper{{run}}
    image: ${testImage}
    autostart: false
    ports: { http: ${port} }
`);
    await berth.ready();
    running = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    const response = await fetch(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: frontendQuery }),
    });
    expect(await response.json()).toEqual({ data: { modules: [{ name: 'tts', status: 'NOT_CREATED', ports: [{ name: 'http', out: port }] }] } });

    const base = new URL(running.url);
    expect((await fetch(new URL('/health', base))).status).toBe(200);
    expect((await fetch(new URL('/ready', base))).status).toBe(200);
  });

  it('serves GraphiQL to a browser', async () => {
    const page = await fetch(running.url, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('GraphiQL');
  });
});

describe('with a dead engine', () => {
  const berth = createHarness(`modules:
  tts:
    kind: piper{{run}}
    image: ${testImage}
`, { connection: { socketPath: join(tmpdir(), 'berth-no-engine', 'docker.sock') } });

  it('stays up, answers ENGINE_UNAVAILABLE and is not ready', async () => {
    const query = await berth.gql(frontendQuery);
    expect(query.errors?.[0]?.extensions?.code).toBe('ENGINE_UNAVAILABLE');
    const start = await berth.gql(StartModuleDocument, { name: 'tts' });
    expect(start.errors?.[0]?.extensions?.code).toBe('ENGINE_UNAVAILABLE');
    expect((await berth.app.fetch('http://berth/health')).status).toBe(200);
    expect((await berth.app.fetch('http://berth/ready')).status).toBe(503);
  });
});

describe('the berth process', () => {
  async function configFile(text: string): Promise<string> {
    const file = join(await mkdtemp(join(tmpdir(), 'berth-config-')), 'docker.yaml');
    await writeFile(file, text);
    return file;
  }

  function startBerth(env: Record<string, string>) {
    const child = spawn(program, args, {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info', DOCKER_HOST: `unix://${inject('engineProxySocket')}`, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    return { child, output: () => ({ stdout, stderr }) };
  }

  it('exits non-zero on an invalid docker.yaml, listing every problem with its position', async () => {
    const file = await configFile('modules:\n  tts:\n    kind: piper\n    image: local/piper:1.2\n    ports:\n      http: 70000\n    colour: blue\n');
    const { child, output } = startBerth({ BERTH_CONFIG: file, PORT: String(await freePort()) });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output().stderr).toContain(`${file}:6:13 modules.tts.ports.http: expected a port number from 1 to 65535, got 70000`);
    expect(output().stderr).toContain(`${file}:7:5 modules.tts.colour: unknown key`);
  });

  it('refuses to listen beyond loopback without a tokens file, saying what to set', async () => {
    const { child, output } = startBerth({ HOST: '0.0.0.0', PORT: String(await freePort()) });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output().stderr).toContain('environment variable HOST: 0.0.0.0 lets other machines reach berth');
    expect(output().stderr).toContain('BERTH_AUTH=off');
  });

  it('exits non-zero on an invalid setting', async () => {
    const { child, output } = startBerth({ PORT: 'eighty' });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output().stderr).toContain('PORT');
  });

  it('serves the bundled-style docker.yaml and shuts down cleanly on SIGTERM', async () => {
    const port = await freePort();
    const file = await configFile(`project: proc-${port}\nmodules:\n  tts:\n    kind: piper-proc${port}\n    image: ${testImage}\n    autostart: false\n`);
    const { child, output } = startBerth({ BERTH_CONFIG: file, PORT: String(port) });
    try {
      await expect.poll(() => output().stdout, { timeout: 15_000 }).toContain('berth is listening');
      await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status, { timeout: 15_000 }).toBe(200);
      const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: frontendQuery }),
      });
      expect(await response.json()).toEqual({ data: { modules: [{ name: 'tts', status: 'NOT_CREATED', ports: [] }] } });
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(output().stdout).toContain('"msg":"stopped"');
  });
});

describe('the log', () => {
  it('keeps expected refusals below error level, and still logs an unexpected failure as an error', async () => {
    const lines: { level: number; msg?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const berth = createHarness(`modules:\n  web:\n    kind: web{{run}}\n    image: ${testImage}\n    autostart: false\n`, { logger });
    try {
      await berth.ready();
      const unknown = await berth.gql('{ module(name: "nope") { name } }');
      const badTimeout = await berth.gql('mutation { stopModule(name: "web", timeoutSeconds: -1) { name } }');
      expect([unknown, badTimeout].map((answer) => answer.errors?.[0]?.extensions?.code)).toEqual(['MODULE_NOT_FOUND', 'BAD_USER_INPUT']);
      expect(lines.filter((line) => line.level >= 50)).toEqual([]);
      vi.spyOn(berth.modules, 'list').mockImplementationOnce(() => {
        throw new Error('a bug');
      });
      const failed = await berth.gql('{ modules { name } }');
      expect(failed.errors?.[0]?.message).toBe('Unexpected error.');
      expect(lines.filter((line) => line.level >= 50)).toHaveLength(1);
    } finally {
      await berth.cleanup();
    }
  });
});
