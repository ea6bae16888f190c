import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigReloader } from '../../src/config/config-reloader.ts';
import { AuditLog } from '../../src/lib/audit-log.ts';
import { watchFile } from '../../src/lib/watch-file.ts';
import { berthConfig, until } from './fake-engine.ts';

describe('watchFile', () => {
  let folder: string;
  beforeEach(async () => (folder = await mkdtemp(join(tmpdir(), 'berth-watch-'))));
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('reports a folder it cannot watch to onError instead of throwing (ENOSPC, out of inotify watches, takes the same path)', () => {
    const onError = vi.fn();
    let stop: (() => void) | undefined;
    expect(() => (stop = watchFile(join(folder, 'missing', 'docker.yaml'), () => {}, { onError }))).not.toThrow();
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ code: 'ENOENT' }));
    expect(stop).not.toThrow();
  });

  it('calls once for a ConfigMap ..data swap, and not for another file of the folder', async () => {
    await mkdir(join(folder, '..v1'));
    await writeFile(join(folder, '..v1', 'docker.yaml'), 'a: 1\n');
    await symlink('..v1', join(folder, '..data'));
    await symlink('..data/docker.yaml', join(folder, 'docker.yaml'));
    const changed = vi.fn();
    const stop = watchFile(join(folder, 'docker.yaml'), changed, { quietMs: 50, onError: () => {} });
    try {
      await mkdir(join(folder, '..v2'));
      await writeFile(join(folder, '..v2', 'docker.yaml'), 'a: 2\n');
      await symlink('..v2', join(folder, '..data_tmp'));
      await rename(join(folder, '..data_tmp'), join(folder, '..data'));
      await until(() => changed.mock.calls.length === 1, 'the swap seen');
      // A write to another file, then a ..data swap: only the swap calls again.
      await writeFile(join(folder, 'unrelated.txt'), 'x');
      await writeFile(join(folder, '..v1', 'docker.yaml'), 'a: 3\n');
      await symlink('..v1', join(folder, '..data_tmp'));
      await rename(join(folder, '..data_tmp'), join(folder, '..data'));
      await until(() => changed.mock.calls.length === 2, 'the second swap seen');
      expect(changed).toHaveBeenCalledTimes(2);
    } finally {
      stop();
    }
  });
});

describe('ConfigReloader.watch', () => {
  it('logs a folder it cannot watch, saying SIGHUP still reloads, and does not throw', () => {
    const logged: string[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
    const file = join(tmpdir(), 'berth-missing-folder', 'docker.yaml');
    const reloader = new ConfigReloader({ file, env: {}, loaded: { config: berthConfig(), digest: 'sha256:0' }, apply: vi.fn(), audit: new AuditLog(logger), logger });
    expect(() => reloader.watch()).not.toThrow();
    expect(logged.join('')).toMatch(/cannot watch docker.yaml.*SIGHUP/);
    reloader.close();
  });
});
