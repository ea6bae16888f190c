import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { diffConfigs } from '../../src/config/config-diff.ts';
import type { ModuleSpec } from '../../src/config/module-spec.ts';
import { statusFeed } from '../../src/graphql/status-feed.ts';
import { mergeIterators, PushQueue } from '../../src/lib/async-iteration.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { Fleet, type EngineModules } from '../../src/modules/fleet.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const logger = pino({ level: 'silent' });

function engineOf(name: string, ...specs: ModuleSpec[]): EngineModules & { docker: FakeEngine } {
  const docker = new FakeEngine();
  for (const spec of specs) docker.addImage(spec.image);
  const store = new ModuleStore({ config: berthConfig(...specs) });
  const modules = new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger, engine: name });
  return { name, docker, store, modules };
}

const db = moduleSpec('db');
const tts = moduleSpec('tts', { engine: 'gpu' });
const web = moduleSpec('web');

describe('Fleet', () => {
  it("lists every engine's modules in docker.yaml's order, and leaves out an engine never reached", async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    await sync(local.store, local.docker);
    expect(fleet.list().map((module) => module.spec.name)).toEqual(['db', 'web']);
    expect(() => fleet.get('tts')).toThrow(/berth has not yet seen engine "gpu"/);
    await sync(gpu.store, gpu.docker);
    expect(fleet.list().map((module) => module.spec.name)).toEqual(['db', 'tts', 'web']);
    expect(fleet.engines).toMatchObject([{ name: 'local', reachable: true }, { name: 'gpu', reachable: true }]);
  });

  it("announces an engine's modules to subscribers when berth first reaches it", async () => {
    const local = engineOf('local', db);
    const docker = new FakeEngine();
    docker.addImage(tts.image);
    const store = new ModuleStore({ config: berthConfig(tts), announceFirstSync: true });
    const gpu = { name: 'gpu', docker, store, modules: new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger, engine: 'gpu' }) };
    const fleet = new Fleet([local, gpu], ['db', 'tts']);
    await sync(local.store, local.docker);
    const heard: string[] = [];
    fleet.subscribe((change) => heard.push(`${change.module.spec.name} ${change.previous} → ${change.status}`));
    await sync(gpu.store, gpu.docker);
    expect(heard).toEqual(['tts null → NOT_CREATED']);
  });

  it('runs each module of a batch on its engine and answers in the order named', async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    await Promise.all([sync(local.store, local.docker), sync(gpu.store, gpu.docker)]);
    const started = await Promise.all(fleet.startMany(['web', 'tts', 'db']));
    expect(started.map((module) => [module.spec.name, module.status])).toEqual([['web', 'RUNNING'], ['tts', 'RUNNING'], ['db', 'RUNNING']]);
    expect(gpu.docker.calls.filter((call) => call.startsWith('containers.start'))).toHaveLength(1);
    expect(local.docker.calls.filter((call) => call.startsWith('containers.start'))).toHaveLength(2);
    await expect(Promise.all(fleet.startMany(['nope']))).rejects.toThrow('no module named "nope" in docker.yaml');
  });

  it('answers a module a reload moved from its new engine while the old one retires it, and never calls it removed', async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    await Promise.all([sync(local.store, local.docker), sync(gpu.store, gpu.docker)]);
    const removed: string[] = [];
    fleet.onModuleRemoved((name) => removed.push(name));
    // web moves to gpu: retiring on local, added on gpu.
    const movedWeb = { ...web, engine: 'gpu' };
    local.store.reconfigure(berthConfig(db), diffConfigs(berthConfig(db, web), berthConfig(db)));
    gpu.docker.addImage(movedWeb.image);
    gpu.store.reconfigure(berthConfig(tts, movedWeb), diffConfigs(berthConfig(tts), berthConfig(tts, movedWeb)));
    await sync(gpu.store, gpu.docker);
    expect(fleet.get('web').spec.engine).toBe('gpu');
    expect(fleet.list().map((module) => `${module.spec.name}@${module.spec.engine}`)).toEqual(['db@local', 'tts@gpu', 'web@gpu']);
    local.store.forget('web');
    expect(removed).toEqual([]);
    gpu.store.reconfigure(berthConfig(tts), diffConfigs(berthConfig(tts, movedWeb), berthConfig(tts)));
    gpu.store.forget('web');
    expect(removed).toEqual(['web']);
  });

  it("changes its version with any engine's observation, reload or removal, and with the order", async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    const versions = [fleet.version];
    const changed = () => {
      expect(versions).not.toContain(fleet.version);
      versions.push(fleet.version);
    };
    gpu.store.observe({ type: 'unreachable' });
    changed();
    await sync(local.store, local.docker);
    changed();
    local.store.reconfigure(berthConfig(db), diffConfigs(berthConfig(db, web), berthConfig(db)));
    changed();
    local.store.forget('web');
    changed();
    fleet.reorder(['tts', 'db']);
    changed();
  });

  it("keeps a moved module's feeds on its new engine: the old one's retirement is not the module's status", async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    await Promise.all([sync(local.store, local.docker), sync(gpu.store, gpu.docker)]);
    await fleet.start('web');
    const named = statusFeed(fleet, { names: ['web'] });
    const every = statusFeed(fleet, {});
    const movedWeb = { ...web, engine: 'gpu' };
    local.store.reconfigure(berthConfig(db), diffConfigs(berthConfig(db, web), berthConfig(db)));
    gpu.docker.addImage(movedWeb.image);
    gpu.store.reconfigure(berthConfig(tts, movedWeb), diffConfigs(berthConfig(tts), berthConfig(tts, movedWeb)));
    await sync(gpu.store, gpu.docker);
    await fleet.start('web');
    await local.modules.retire('web', 0);
    expect(fleet.get('web')).toMatchObject({ status: 'RUNNING', spec: { engine: 'gpu' } });
    for (const feed of [named, every]) {
      feed.end();
      const seen: string[] = [];
      for await (const change of feed) seen.push(`${change.module.spec.name}@${change.module.spec.engine} ${change.status}`);
      expect(seen.at(-1)).toBe('web@gpu RUNNING');
      expect(seen.filter((line) => line.includes('@local'))).toEqual([]);
    }
  });

  it('ends a stats subscription naming a module a reload moved, rather than go on without it', { timeout: 3000 }, async () => {
    const local = engineOf('local', db, web);
    const gpu = engineOf('gpu', tts);
    const fleet = new Fleet([local, gpu], ['db', 'tts', 'web']);
    await Promise.all([sync(local.store, local.docker), sync(gpu.store, gpu.docker)]);
    const stats = fleet.stats(['web', 'tts']);
    const movedWeb = { ...web, engine: 'gpu' };
    local.store.reconfigure(berthConfig(db), diffConfigs(berthConfig(db, web), berthConfig(db)));
    gpu.docker.addImage(movedWeb.image);
    gpu.store.reconfigure(berthConfig(tts, movedWeb), diffConfigs(berthConfig(tts), berthConfig(tts, movedWeb)));
    await sync(gpu.store, gpu.docker);
    await local.modules.retire('web', 0);
    expect(await stats.next()).toEqual({ value: undefined, done: true });
  });

  it('loads images into the engine named, and refuses an unknown one', async () => {
    const fleet = new Fleet([engineOf('local', db), engineOf('gpu', tts)], ['db', 'tts']);
    expect(() => fleet.loadImages(undefined as never, new AbortController().signal, 'edge')).toThrow('no engine named "edge" in docker.yaml; engines: local, gpu');
  });
});

describe('mergeIterators', () => {
  it('passes each value on as it comes, ends after every source, and returns every source when its consumer leaves', async () => {
    const [a, b] = [new PushQueue<string>(), new PushQueue<string>()];
    const merged = mergeIterators([a, b]);
    a.push('a1');
    b.push('b1');
    expect([(await merged.next()).value, (await merged.next()).value]).toEqual(['a1', 'b1']);
    a.end();
    b.push('b2');
    expect((await merged.next()).value).toBe('b2');
    b.end();
    expect((await merged.next()).done).toBe(true);

    const [c, d] = [new PushQueue<string>(), new PushQueue<string>()];
    const left = mergeIterators([c, d]);
    const pending = left.next();
    await left.return!();
    expect((await pending).done).toBe(true);
    expect([c.push('late'), await c.next(), await d.next()].slice(1)).toEqual([{ value: undefined, done: true }, { value: undefined, done: true }]);
  });
});
