import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ModuleSpec, RegistryCredentials } from '../../src/config/module-spec.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import type { ImagePull } from '../../src/modules/image-pulls.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });

async function setUp(specs: ModuleSpec[], registries: Record<string, RegistryCredentials> = {}) {
  const engine = new FakeEngine();
  const store = new ModuleStore({ config: berthConfig(...specs) });
  const modules = new DockerModuleClient({ docker: engine, store, reader: new ModuleReader({ docker: engine, store, project }), project, logger, registries });
  await sync(store, engine);
  return { engine, store, modules };
}

/** Everything a follower gets until its stream ends. */
async function drain(follower: AsyncIterable<ImagePull>): Promise<ImagePull[]> {
  const all: ImagePull[] = [];
  for await (const pull of follower) all.push(pull);
  return all;
}

/** Lets the frames sent so far through the fake engine's stream: they are read in microtasks. */
const flushed = () => new Promise((resolve) => setImmediate(resolve));

const pending = async <T>(promise: Promise<T>) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve('pending'), 50))]);

describe('module image pulls', () => {
  it('answers once the engine accepts, and adds up the layers as the docker CLI shows them', async () => {
    const { engine, modules } = await setUp([moduleSpec('app')]);
    const answer = modules.pullImage('app');
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    expect(await pending(answer)).toBe('pending');
    const pull = engine.pullsAsked[0]!.accept();
    expect(await answer).toMatchObject({ module: 'app', image: 'example/app:1', state: 'PULLING', current: 0, total: 0, layers: [] });

    const follower = modules.followPull('app');
    expect((await follower.next()).value).toMatchObject({ state: 'PULLING', current: 0 });
    pull.frame({ status: 'Pulling from example/app' }).frame({ layer: 'base', status: 'Already exists' }).frame({ layer: 'big', status: 'Pulling fs layer' });
    pull.frame({ layer: 'small', status: 'Pulling fs layer' }).frame({ layer: 'big', status: 'Downloading', current: 1000, total: 4000 });
    await flushed();
    expect((await follower.next()).value).toMatchObject({
      current: 1000,
      total: 4000,
      layers: [
        { id: 'base', status: 'Already exists', current: undefined, total: undefined },
        { id: 'big', status: 'Downloading', current: 1000, total: 4000 },
        { id: 'small', status: 'Pulling fs layer', current: undefined, total: undefined },
      ],
    });
    // A layer too small to report its download is sized when it is extracted.
    pull.frame({ layer: 'small', status: 'Download complete' }).frame({ layer: 'small', status: 'Extracting', current: 10, total: 300 });
    pull.frame({ layer: 'big', status: 'Download complete' });
    await flushed();
    expect((await follower.next()).value).toMatchObject({ current: 4300, total: 4300 });
    pull.frame({ layer: 'big', status: 'Extracting', current: 500, total: 4000 }).frame({ layer: 'big', status: 'Pull complete' });
    await flushed();
    expect((await follower.next()).value).toMatchObject({ current: 4300, total: 4300, layers: [{ id: 'base' }, { id: 'big', status: 'Pull complete', current: undefined }, { id: 'small', status: 'Extracting', current: 10 }] });
    pull.complete();
    expect((await follower.next()).value).toMatchObject({ state: 'DONE', current: 4300, total: 4300, error: undefined });
    expect(await follower.next()).toEqual({ value: undefined, done: true });
  });

  it('joins a pull under way, for the same module and for another of the same image in another spelling', async () => {
    const { engine, modules } = await setUp([moduleSpec('app', { image: 'example/app' }), moduleSpec('twin', { image: 'docker.io/example/app:latest' })]);
    const answers = [modules.pullImage('app'), modules.pullImage('app'), modules.pullImage('twin')];
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    const pull = engine.pullsAsked[0]!.accept();
    const [first, second, twin] = await Promise.all(answers);
    expect(first).toBe(second);
    expect(twin).toMatchObject({ module: 'twin', image: 'example/app', state: 'PULLING' });
    pull.frame({ layer: 'big', status: 'Downloading', current: 5, total: 10 });
    await flushed();
    expect(await modules.pullImage('twin')).toMatchObject({ module: 'twin', current: 5, total: 10 });
    expect(engine.calls.filter((call) => call.startsWith('pulls.pull'))).toHaveLength(1);
    pull.complete();
    const [app, other] = await Promise.all([drain(modules.followPull('app')), drain(modules.followPull('twin'))]);
    expect(app.at(-1)).toMatchObject({ module: 'app', state: 'DONE' });
    expect({ ...other.at(-1), module: 'app' }).toEqual(app.at(-1));
    // A pull after the end is a new one.
    void modules.pullImage('app');
    await until(() => engine.pullsAsked.length === 2, 'a second pull');
  });

  it('puts the image in the store before DONE: the module is NOT_CREATED when a follower hears of it', async () => {
    const { engine, modules, store } = await setUp([moduleSpec('app')]);
    expect(store.get('app')!.status).toBe('NOT_LOADED');
    const follower = modules.followPull('app');
    void modules.pullImage('app');
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    engine.pullsAsked[0]!.accept().complete();
    const pulls = await drain(follower);
    expect(pulls.at(-1)!.state).toBe('DONE');
    expect(store.get('app')!.status).toBe('NOT_CREATED');
  });

  it('waits for the next pull when there was none, and hands a slow follower the latest progress, never cutting it off', async () => {
    const { engine, modules } = await setUp([moduleSpec('app')]);
    const follower = modules.followPull('app');
    const first = follower.next();
    expect(await pending(first)).toBe('pending');
    void modules.pullImage('app');
    expect((await first).value).toMatchObject({ state: 'PULLING' });
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    const pull = engine.pullsAsked[0]!.accept();
    for (let current = 1; current <= 5000; current++) pull.frame({ layer: 'big', status: 'Downloading', current, total: 5000 });
    pull.complete();
    await until(() => modules.get('app').status === 'NOT_CREATED', 'the image to arrive');
    const rest = await drain(follower);
    expect(rest.map((event) => [event.state, event.current])).toEqual([['DONE', 5000]]);
  });

  it('gives every event as a fresh object, shared by the followers of one module but for the one each opens with', async () => {
    const { engine, modules } = await setUp([moduleSpec('app')]);
    const [a, b] = [modules.followPull('app'), modules.followPull('app')];
    void modules.pullImage('app');
    const [a1, b1] = [(await a.next()).value, (await b.next()).value];
    expect(a1).not.toBe(b1);
    expect(a1).toEqual(b1);
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    engine.pullsAsked[0]!.accept().frame({ layer: 'big', status: 'Downloading', current: 1, total: 2 });
    const [a2, b2] = [(await a.next()).value, (await b.next()).value];
    expect(a2).toBe(b2);
    expect(a1).toMatchObject({ current: 0 });
    expect(a2).toMatchObject({ current: 1 });
    // A later follower opens with a copy of the state the others had.
    const late = (await modules.followPull('app').next()).value;
    expect(late).not.toBe(a2);
    expect(late).toEqual(a2);
  });

  it('fails PULL_FAILED when the engine refuses; the answer and a later follower say why', async () => {
    const { engine, modules } = await setUp([moduleSpec('app')]);
    const answer = modules.pullImage('app');
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    engine.pullsAsked[0]!.refuse('manifest unknown');
    await expect(answer).rejects.toMatchObject({ code: 'PULL_FAILED', message: 'pulling "example/app:1" failed: manifest unknown' });
    expect(await drain(modules.followPull('app'))).toEqual([expect.objectContaining({ state: 'FAILED', error: 'pulling "example/app:1" failed: manifest unknown' })]);
    expect(modules.get('app').status).toBe('NOT_LOADED');
  });

  it('fails on an error inside the stream, and when the engine ends without the image', async () => {
    const { engine, modules } = await setUp([moduleSpec('app'), moduleSpec('other')]);
    void modules.pullImage('app');
    void modules.pullImage('other');
    await until(() => engine.pullsAsked.length === 2, 'the engine to be asked');
    const [app, other] = engine.pullsAsked;
    app!.accept().frame({ layer: 'big', status: 'Downloading', current: 1, total: 2 }).fail('unknown blob');
    expect((await drain(modules.followPull('app'))).at(-1)).toMatchObject({ state: 'FAILED', current: 1, error: 'pulling "example/app:1" failed: unknown blob' });
    other!.accept().complete({ image: false });
    expect((await drain(modules.followPull('other'))).at(-1)).toMatchObject({ state: 'FAILED', error: 'pulling "example/other:1" ended, but the image is not on the engine' });
  });

  it("sends the registry's credentials, with its host as the server address, and none to another registry", async () => {
    const registries = { '127.0.0.1:5000': { username: 'u', password: 'p4ss' }, 'docker.io': { username: 'hub', password: 'hub-pass' } };
    const { engine, modules } = await setUp([moduleSpec('local', { image: '127.0.0.1:5000/a/b:1' }), moduleSpec('hub', { image: 'library/redis' }), moduleSpec('other', { image: 'ghcr.io/a/b' })], registries);
    for (const name of ['local', 'hub', 'other']) void modules.pullImage(name);
    await until(() => engine.pullsAsked.length === 3, 'three pulls');
    expect(engine.pullsAsked.map((pull) => [pull.reference, pull.auth])).toEqual([
      ['127.0.0.1:5000/a/b:1', { username: 'u', password: 'p4ss', serverAddress: '127.0.0.1:5000' }],
      ['library/redis', { username: 'hub', password: 'hub-pass', serverAddress: 'docker.io' }],
      ['ghcr.io/a/b', undefined],
    ]);
  });

  it('answers MODULE_NOT_FOUND for a module docker.yaml does not declare, and cancels pulls when berth stops', async () => {
    const { engine, modules } = await setUp([moduleSpec('app')]);
    await expect(modules.pullImage('nope')).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND' });
    expect(() => modules.followPull('nope')).toThrow(expect.objectContaining({ code: 'MODULE_NOT_FOUND' }));
    void modules.pullImage('app');
    await until(() => engine.pullsAsked.length === 1, 'the engine to be asked');
    engine.pullsAsked[0]!.accept();
    modules.stopPulls();
    expect((await drain(modules.followPull('app'))).at(-1)).toMatchObject({ state: 'FAILED' });
  });
});
