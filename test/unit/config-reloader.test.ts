import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { diffConfigs } from '../../src/config/config-diff.ts';
import { ConfigReloader } from '../../src/config/config-reloader.ts';
import { readConfig } from '../../src/config/docker-yaml.ts';
import type { BerthConfig } from '../../src/config/module-spec.ts';
import { AuditLog, type AuditEntry } from '../../src/lib/audit-log.ts';
import { until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });
const alpha = (tag: number) => `project: p\nmodules:\n  alpha:\n    kind: http\n    image: example/alpha:${tag}\n`;
const beta = '  beta:\n    kind: http\n    image: example/beta:1\n';

describe('ConfigReloader, a file that removes modules', () => {
  let folder: string;
  let file: string;
  let current: BerthConfig;
  const removed: string[] = [];
  /** Each wait before a file that removes modules is read again: the test lets it end. */
  const waits: (() => void)[] = [];
  const apply = vi.fn(async (next: BerthConfig) => {
    const changes = diffConfigs(current, next);
    current = next;
    removed.push(...changes.removed);
    return changes;
  });

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-settle-'));
    file = join(folder, 'docker.yaml');
    await writeFile(file, alpha(1) + beta);
    current = (await readConfig(file, {})).config;
    removed.length = 0;
    waits.length = 0;
    audited.length = 0;
    apply.mockClear();
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  const audited: AuditEntry[] = [];
  const reloader = async () => {
    const audit = new AuditLog(logger);
    vi.spyOn(audit, 'write').mockImplementation((entry) => void audited.push(entry));
    return new ConfigReloader({ file, env: {}, loaded: await readConfig(file, {}), apply, audit, logger, settle: () => new Promise<void>((resolve) => waits.push(resolve)) });
  };

  it('is read again after a wait: a file caught part-way through a slow write that broke at a module removes nothing', async () => {
    const config = await reloader();
    await writeFile(file, alpha(2));
    const outcome = config.reload('file');
    await until(() => waits.length === 1, 'the wait before the file is read again');
    await appendFile(file, beta); // the rest of the slow write
    waits[0]!();
    expect(await outcome).toBe('ok');
    expect(apply).toHaveBeenCalledTimes(1);
    expect(removed).toEqual([]);
    expect(current.modules.map((module) => module.name)).toEqual(['alpha', 'beta']);
  });

  it('removes them once it reads the same after the wait', async () => {
    const config = await reloader();
    await writeFile(file, alpha(1));
    const outcome = config.reload('SIGHUP');
    await until(() => waits.length === 1, 'the wait before the file is read again');
    waits[0]!();
    expect(await outcome).toBe('ok');
    expect(removed).toEqual(['beta']);
    expect(audited.at(-1)).toMatchObject({ outcome: 'ok', details: { removed: ['beta'], removal: 'background' } });
  });

  it('is not waited for when it only adds or changes modules', async () => {
    const config = await reloader();
    await writeFile(file, alpha(2) + beta);
    expect(await config.reload('file')).toBe('ok');
    expect(waits).toEqual([]);
  });
});

describe('ConfigReloader, an apply that fails', () => {
  let folder: string;
  beforeEach(async () => (folder = await mkdtemp(join(tmpdir(), 'berth-failed-apply-'))));
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('leaves the configuration in force as it was: the same file read again is applied again', async () => {
    const file = join(folder, 'docker.yaml');
    await writeFile(file, alpha(1));
    const loaded = await readConfig(file, {});
    const apply = vi.fn<(next: BerthConfig) => Promise<ReturnType<typeof diffConfigs>>>().mockRejectedValueOnce(new Error('a bug')).mockResolvedValue({ added: [], removed: [], changed: ['alpha'] });
    const config = new ConfigReloader({ file, env: {}, loaded, apply, audit: new AuditLog(logger), logger });
    await writeFile(file, alpha(2));
    expect(await config.reload('file')).toBe('failed');
    expect(config.state.digest).toBe(loaded.digest);
    expect(await config.reload('SIGHUP')).toBe('ok');
    expect(apply).toHaveBeenCalledTimes(2);
    expect(config.state.digest).not.toBe(loaded.digest);
  });
});
