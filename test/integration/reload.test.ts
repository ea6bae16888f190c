import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serviceCommand } from '../../scripts/service-command.ts';
import { textDigest } from '../../src/config/docker-yaml.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, docker, freePort, removeProject, testImage, waitFor, type Harness } from './harness.ts';
import { subscribe, wsClient, type Subscription } from './subscription.ts';

interface StatusChange {
  module: { name: string };
  previous: string | null;
  status: string;
}

const statusQuery = 'subscription($names: [String!]) { moduleStatusChanged(names: $names) { module { name } previous status } }';
const configQuery = '{ config { path loadedAt digest errors { line column path message } } }';

/** The audit lines berth writes, as objects. */
function auditLines() {
  const lines: { principal: string; operation: string; outcome: string; durationMs: number; details: Record<string, unknown> }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        const entry = JSON.parse(line) as { audit?: (typeof lines)[number] };
        if (entry.audit) lines.push(entry.audit);
      }
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('docker.yaml reloaded while berth runs', () => {
  let folder: string;
  let file: string;
  let berth: Harness;
  let server: RunningServer;
  let all: Subscription<StatusChange>;
  let gone: Subscription<StatusChange>;
  let client: ReturnType<typeof wsClient>;
  const audit = auditLines();
  const module = (name: string, extra = '') => `  ${name}:\n    kind: http{{run}}\n    image: ${testImage}\n${extra}`;
  /** The file as the harness writes it: the project line first, `{{run}}` made this run's. */
  const text = (yaml: string) => `project: ${berth.project}\n${yaml.replaceAll('{{run}}', berth.run)}`;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-reload-'));
    file = join(folder, 'docker.yaml');
    berth = createHarness(`volumes:\n  data: {}\nmodules:\n${module('keep', '    envs: { GREETING: hello }\n')}${module('gone', '    volumes: ["data:/data"]\n')}`, {
      file,
      reloadable: true,
      logger: audit.logger,
    });
    await berth.ready();
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    client = wsClient(server);
    all = subscribe<StatusChange>(client, statusQuery, 'moduleStatusChanged');
    gone = subscribe<StatusChange>(client, statusQuery, 'moduleStatusChanged', { names: ['gone'] });
    await waitFor(() => ['keep', 'gone'].every((name) => berth.store.get(name)?.status === 'RUNNING'), 'both modules running', 30_000);
  });

  afterAll(async () => {
    all?.dispose();
    gone?.dispose();
    await client?.dispose();
    await server?.close();
    await berth?.cleanup();
    await rm(folder, { recursive: true, force: true });
  });

  it('adds, changes and removes modules on an atomic save, the subscriber still connected, /ready 200', async () => {
    const from = all.received.length;
    const next = text(`volumes:\n  data: {}\nmodules:\n${module('keep', '    envs: { GREETING: changed }\n')}${module('fresh')}`);
    // An editor's atomic save: a new file renamed over the old one.
    await writeFile(join(folder, '.docker.yaml.swp'), next);
    await rename(join(folder, '.docker.yaml.swp'), file);

    await all.until((change) => change.module.name === 'fresh' && change.previous === null, 'the added module announced', from);
    await all.until((change) => change.module.name === 'fresh' && change.status === 'RUNNING', 'the added module autostarted', from);
    await waitFor(() => gone.isCompleted(), "the removed module's named subscription to complete", 30_000);
    expect(gone.received.at(-1)).toMatchObject({ status: 'NOT_CREATED' });
    expect(all.received.slice(from).filter((change) => change.module.name === 'gone').at(-1)).toMatchObject({ status: 'NOT_CREATED' });
    expect(all.isCompleted()).toBe(false);

    const { data } = await berth.gql<{ modules: { name: string }[] }>('{ modules { name } }');
    expect(data?.modules.map(({ name }) => name)).toEqual(['keep', 'fresh']);
    expect(berth.store.spec('keep')?.envs.GREETING).toBe('changed');
    expect((await berth.gql('mutation { startModule(name: "gone") { name } }')).errors?.[0]?.extensions?.code).toBe('MODULE_NOT_FOUND');
    // The removed module's container is gone; its named volume stays.
    const left = await docker.listContainers({ all: true, filters: { label: [`berth.project=${berth.project}`, 'berth.module=gone'] } });
    expect(left).toEqual([]);
    expect((await docker.getVolume(`${berth.project}_data`).inspect()).Name).toBe(`${berth.project}_data`);
    expect((await berth.app.fetch('http://berth/ready')).status).toBe(200);

    const line = audit.lines.find((entry) => entry.operation === 'reload' && entry.outcome === 'ok');
    expect(line).toMatchObject({ principal: 'file', details: { digest: textDigest(next), added: ['fresh'], removed: ['gone'], changed: ['keep'] } });
  });

  it('keeps the configuration in force on a broken in-place write, shows where over `config`, and clears it once fixed', async () => {
    const before = (await berth.gql(configQuery)).data?.config;
    const rejected = audit.lines.filter((entry) => entry.outcome === 'rejected').length;
    // An in-place write, as `echo … > docker.yaml` does: truncated, then written.
    const broken = text(`modules:\n${module('keep', '    ports: { http: 70000 }\n')}${module('fresh', '    colour: blue\n')}`);
    await writeFile(file, broken);
    await waitFor(async () => (await berth.gql(configQuery)).data?.config.errors.length > 0, 'the problems shown');
    const { config } = (await berth.gql(configQuery)).data!;
    expect(config.errors).toEqual([
      { line: 6, column: 20, path: 'modules.keep.ports.http', message: 'expected a port number from 1 to 65535, got 70000' },
      { line: 10, column: 5, path: 'modules.fresh.colour', message: expect.stringContaining('unknown key "colour"') },
    ]);
    expect(config.loadedAt).toBe(before.loadedAt);
    expect(config.digest).toBe(before.digest);
    expect(berth.store.spec('keep')?.ports).toEqual([]);
    await waitFor(() => audit.lines.filter((entry) => entry.outcome === 'rejected').length > rejected, 'the rejection audited');
    expect(audit.lines.filter((entry) => entry.outcome === 'rejected').at(-1)).toMatchObject({ principal: 'file', details: { digest: textDigest(broken), problems: 2 } });

    const port = await freePort();
    const fixed = text(`modules:\n${module('keep', `    envs: { GREETING: changed }\n    ports: { http: { in: 8080, out: ${port}, host: 127.0.0.1 } }\n`)}${module('fresh')}`);
    await writeFile(file, fixed);
    await waitFor(async () => (await berth.gql(configQuery)).data?.config.errors.length === 0, 'the problems cleared');
    const after = (await berth.gql(configQuery)).data!.config;
    expect(after.digest).toBe(textDigest(fixed));
    expect(Date.parse(after.loadedAt)).toBeGreaterThan(Date.parse(before.loadedAt));
    expect(berth.store.spec('keep')?.ports).toMatchObject([{ name: 'http', out: port }]);
  });

  it('refuses to change the project, naming no secret (a ${VAR} default here) in its problems', async () => {
    const secret = '${BERTH_RELOAD_TEST_SECRET:-fallback-secret}';
    const wrongProject = `project: other-${berth.run}\nmodules:\n${module('keep', `    envs: { TOKEN: "${secret}" }\n`).replaceAll('{{run}}', berth.run)}`;
    await writeFile(file, wrongProject);
    await waitFor(async () => (await berth.gql(configQuery)).data?.config.errors.length > 0, 'the problem shown');
    const { config } = (await berth.gql(configQuery)).data!;
    expect(config.errors).toEqual([{ line: 1, column: 10, path: 'project', message: expect.stringContaining(`berth runs project "${berth.project}"`) }]);
    expect(JSON.stringify(config)).not.toContain('fallback-secret');
    expect(berth.store.list().map((state) => state.spec.name)).toEqual(['keep', 'fresh']);
  });

  it('shows the drift of a manual module a reload changed, and applies an `update: auto` one at once', async () => {
    const freshId = berth.store.get('fresh')?.containerId;
    await writeFile(file, text(`modules:\n${module('keep', '    envs: { GREETING: drifted }\n')}${module('fresh', '    update: auto\n    envs: { GREETING: auto }\n')}`));
    const drift = async (name: string) => ((await berth.gql<{ module: { drift: string[] } }>(`{ module(name: "${name}") { drift } }`)).data?.module.drift ?? []);
    await waitFor(async () => (await drift('keep')).includes('envs.GREETING'), "the manual module's drift");
    await waitFor(async () => {
      const [container] = await docker.listContainers({ filters: { label: [`berth.project=${berth.project}`, 'berth.module=fresh'] } });
      return container !== undefined && container.Id !== freshId && (await docker.getContainer(container.Id).inspect()).Config.Env.includes('GREETING=auto');
    }, 'the auto module made again from the new file, running', 60_000);
    await waitFor(async () => (await drift('fresh')).length === 0, "the auto module's drift gone");
    await waitFor(() => berth.store.get('fresh')?.status === 'RUNNING', 'the update to end with the module running');
  });

  it('reloads on SIGHUP: the entry point the handler calls', async () => {
    const yaml = text(`modules:\n${module('keep', '    envs: { GREETING: hup }\n')}${module('fresh')}`);
    await writeFile(join(folder, 'next.yaml'), yaml);
    await rename(join(folder, 'next.yaml'), file);
    await waitFor(() => berth.store.spec('keep')?.envs.GREETING === 'hup', 'the watched change');
    // The file is as it is now: a SIGHUP finds the same configuration and changes nothing.
    expect(await berth.reloader.reload('SIGHUP')).toBe('unchanged');
    expect(audit.lines.at(-1)).toMatchObject({ principal: 'SIGHUP', operation: 'reload', outcome: 'unchanged', details: { digest: textDigest(yaml) } });
  });
});

// The built service, run as `npm start` runs it (the integration setup compiles it first).
const [program, args] = await serviceCommand();

describe('the built service', () => {
  let folder: string;
  const project = `it-hup-${Math.random().toString(36).slice(2, 8)}`;

  afterAll(async () => {
    await removeProject(project);
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('reloads docker.yaml on SIGHUP and keeps running, and reopens the audit file moved aside (logrotate)', async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-sighup-'));
    const file = join(folder, 'docker.yaml');
    const auditFile = join(folder, 'audit.jsonl');
    await writeFile(file, `project: ${project}\nmodules:\n  one:\n    kind: http\n    image: ${testImage}\n    autostart: false\n`);
    await writeFile(auditFile, '');
    // Moved aside before the SIGHUP: the reload's line lands in a new file under the same name.
    const child = spawn(program, args, {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'info', DOCKER_HOST: `unix://${inject('engineProxySocket')}`, BERTH_CONFIG: file, BERTH_AUDIT_FILE: auditFile, PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    try {
      await waitFor(() => stdout.includes('berth is listening'), 'berth to listen', 30_000);
      await rename(auditFile, `${auditFile}.1`);
      child.kill('SIGHUP');
      await waitFor(() => stdout.includes('"principal":"SIGHUP"'), 'the SIGHUP reload audited', 30_000);
      expect(stdout).toMatch(/"component":"audit","audit":\{"time":"[^"]+","principal":"SIGHUP","operation":"reload","outcome":"unchanged"/);
      await waitFor(async () => (await readFile(auditFile, 'utf8').catch(() => '')).includes('"principal":"SIGHUP"'), 'the reload in the reopened audit file');
      expect(await readFile(`${auditFile}.1`, 'utf8')).toBe('');
      expect([child.exitCode, child.signalCode]).toEqual([null, null]);
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  });
});
