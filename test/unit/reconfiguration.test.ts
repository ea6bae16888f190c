import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { diffConfigs, sameConfig } from '../../src/config/config-diff.ts';
import { ConfigReloader } from '../../src/config/config-reloader.ts';
import { readConfig, textDigest } from '../../src/config/docker-yaml.ts';
import { moduleChangedFeed } from '../../src/graphql/module-feed.ts';
import { statusFeed } from '../../src/graphql/status-feed.ts';
import { AuditLog, type AuditEntry } from '../../src/lib/audit-log.ts';
import { debounce } from '../../src/lib/timing.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { Reconfiguration } from '../../src/modules/reconfiguration.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });
const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const gamma = moduleSpec('gamma');

describe('diffConfigs', () => {
  it('tells added, removed and changed modules apart, by name', () => {
    const changedAlpha = { ...alpha, envs: { GREETING: 'new' } };
    expect(diffConfigs(berthConfig(alpha, beta), berthConfig(changedAlpha, gamma))).toEqual({ added: ['gamma'], removed: ['beta'], changed: ['alpha'] });
    expect(diffConfigs(berthConfig(alpha, beta), berthConfig(alpha, beta))).toEqual({ added: [], removed: [], changed: [] });
  });

  it('sees the same configuration whatever the order of keys, and a new secret or registry as a difference', () => {
    const reordered = { ...berthConfig(alpha), modules: [Object.fromEntries(Object.entries(alpha).reverse()) as typeof alpha] };
    expect(sameConfig(berthConfig(alpha), reordered)).toBe(true);
    expect(sameConfig(berthConfig(alpha), { ...berthConfig(alpha), registries: { 'registry.example.com': { username: 'u', password: 'p' } } })).toBe(false);
  });
});

describe('debounce', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs once, the quiet time after the last call of a burst', () => {
    const run = vi.fn();
    const debounced = debounce(run, 100);
    debounced();
    vi.advanceTimersByTime(60);
    debounced();
    vi.advanceTimersByTime(60);
    expect(run).not.toHaveBeenCalled();
    vi.advanceTimersByTime(40);
    expect(run).toHaveBeenCalledTimes(1);
    debounced();
    debounced.cancel();
    vi.advanceTimersByTime(200);
    expect(run).toHaveBeenCalledTimes(1);
  });
});

describe('Reconfiguration', () => {
  let engine: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;
  let reconfiguration: Reconfiguration;

  beforeEach(async () => {
    engine = new FakeEngine();
    engine.addImage(alpha.image);
    engine.addImage(gamma.image);
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger });
    const reader = new ModuleReader({ docker: engine, store, project });
    modules = new DockerModuleClient({ docker: engine, store, reader, project, logger });
    reconfiguration = new Reconfiguration({ store, reader, modules, logger, stopTimeoutSeconds: 0 });
    await sync(store, engine);
  });

  const apply = (...specs: typeof alpha[]) => {
    const before = berthConfig(...store.list().map((module) => module.spec));
    const next = berthConfig(...specs);
    return reconfiguration.apply(next, diffConfigs(before, next));
  };

  it('announces an added module with the status read from the engine, to feeds without names', async () => {
    const all = statusFeed(modules, {});
    await apply(alpha, beta, gamma);
    expect((await all.next()).value).toMatchObject({ module: { spec: { name: 'gamma' } }, previous: null, status: 'NOT_CREATED' });
    expect(store.list().map((module) => module.spec.name)).toEqual(['alpha', 'beta', 'gamma']);
  });

  it("removes a removed module's container after the operation under way, ends feeds that name it, and refuses later operations", async () => {
    engine.addContainer(alpha, 'running');
    await sync(store, engine);
    const named = statusFeed(modules, { names: ['alpha'] });
    const removed = vi.fn();
    store.onModuleRemoved(removed);
    // The reload comes while the stop holds the module's lock: the stop finishes, then the removal.
    // A start that comes once the file is read waits for the lock, and is refused.
    let applying: Promise<void> | undefined;
    let late: Promise<unknown> | undefined;
    store.subscribe((change) => {
      if (change.status !== 'HANDLING' || applying) return;
      applying = apply(beta).then(({ removed }) => removed);
      late = modules.start('alpha');
    });
    expect(await modules.stop('alpha', 0)).toMatchObject({ status: 'EXITED' });
    await applying;
    await expect(late).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND', message: 'module "alpha" was removed from docker.yaml' });
    expect(engine.held.size).toBe(0);
    expect(removed).toHaveBeenCalledWith('alpha');
    const seen = [];
    for await (const change of named) seen.push(`${change.previous}>${change.status}`);
    expect(seen.at(-1)).toBe('HANDLING>NOT_CREATED');
    expect(store.list().map((module) => module.spec.name)).toEqual(['beta']);
    await expect(modules.start('alpha')).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND' });
  });

  it('does not hold the reload up while a removed module waits for a long operation under way: the removal goes on after it', async () => {
    engine.addContainer(alpha, 'running');
    await sync(store, engine);
    // A stop given an hour, still under way when the reload comes.
    let release = () => {};
    const stop = engine.containers.stop;
    engine.containers.stop = async (id) => {
      await new Promise<void>((resolve) => (release = resolve));
      engine.containers.stop = stop;
      await stop(id);
    };
    const stopping = modules.stop('alpha', 3600);
    await until(() => store.get('alpha')!.status === 'HANDLING', 'the stop under way');
    const { removed } = await apply(beta, gamma);
    expect(store.get('gamma')).toMatchObject({ status: 'NOT_CREATED' });
    expect(store.retiring('alpha')).toBe(true);
    release();
    await stopping;
    await removed;
    expect(store.spec('alpha')).toBeUndefined();
    expect(engine.held.size).toBe(0);
  });

  it('gives a changed module its new spec, and tells moduleChanged', async () => {
    const changed = moduleChangedFeed(modules, { names: ['alpha'] });
    const next = { ...alpha, envs: { GREETING: 'new' } };
    await apply(next, beta);
    expect(store.spec('alpha')).toBe(next);
    expect((await changed.next()).value).toMatchObject({ spec: next });
  });
});

describe('ConfigReloader', () => {
  let folder: string;
  let file: string;
  const yaml = (greeting: string) => `project: ${project}\nmodules:\n  alpha:\n    kind: http\n    image: example/alpha:1\n    envs: { GREETING: ${greeting} }\n`;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-reloader-'));
    file = join(folder, 'docker.yaml');
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  async function reloader() {
    await writeFile(file, yaml('hello'));
    const audited: AuditEntry[] = [];
    const audit = new AuditLog(logger);
    vi.spyOn(audit, 'write').mockImplementation((entry) => void audited.push(entry));
    const apply = vi.fn(async () => ({ added: [], removed: [], changed: ['alpha'] }));
    const loaded = await readConfig(file, {});
    return { reloader: new ConfigReloader({ file, env: {}, loaded, apply, audit, logger }), apply, audited };
  }

  it('keeps the configuration in force on a half-written file, and takes the whole one that follows', async () => {
    const { reloader: config, apply, audited } = await reloader();
    const loadedAt = config.state.loadedAt;
    await writeFile(file, yaml('new').slice(0, 40));
    expect(await config.reload('file')).toBe('rejected');
    expect(config.state.errors.length).toBeGreaterThan(0);
    expect(config.state.loadedAt).toBe(loadedAt);
    expect(apply).not.toHaveBeenCalled();
    await writeFile(file, yaml('new'));
    expect(await config.reload('file')).toBe('ok');
    expect(config.state).toMatchObject({ errors: [], digest: textDigest(yaml('new')) });
    expect(apply).toHaveBeenCalledTimes(1);
    expect(audited.map(({ principal, outcome, details }) => [principal, outcome, details?.digest])).toEqual([
      ['file', 'rejected', textDigest(yaml('new').slice(0, 40))],
      ['file', 'ok', textDigest(yaml('new'))],
    ]);
  });

  it('changes nothing when only a comment changed', async () => {
    const { reloader: config, apply, audited } = await reloader();
    await writeFile(file, `# a comment\n${yaml('hello')}`);
    expect(await config.reload('SIGHUP')).toBe('unchanged');
    expect(apply).not.toHaveBeenCalled();
    expect(audited).toMatchObject([{ principal: 'SIGHUP', operation: 'reload', outcome: 'unchanged' }]);
  });

  it('reloads after a burst of writes to the watched file', async () => {
    const { reloader: config, apply } = await reloader();
    config.watch();
    try {
      for (const greeting of ['a', 'b', 'c']) await writeFile(file, yaml(greeting));
      await until(() => apply.mock.calls.length > 0 && config.state.digest === textDigest(yaml('c')), 'the last write in force');
    } finally {
      config.close();
    }
  });
});
