import { pino } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleStore, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { statusFeed, type StatusFeedItem } from '../../src/graphql/status-feed.ts';
import { BerthError } from '../../src/errors.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { berthConfig, FakeEngine, handling, moduleSpec, project, sync } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const logger = pino({ level: 'silent' });

const brief = ({ module, previous, status }: StatusFeedItem) => [module.spec.name, previous, status];

describe('statusFeed', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;
  let listeners: ReturnType<typeof vi.fn<(change: ModuleStatusChange) => void>>[];

  beforeEach(async () => {
    docker = new FakeEngine();
    docker.addImage(alpha.image);
    docker.addContainer(beta, 'running');
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger });
    modules = new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger });
    listeners = [];
    const subscribe = store.subscribe.bind(store);
    vi.spyOn(store, 'subscribe').mockImplementation((listener) => {
      const spy = vi.fn(listener);
      listeners.push(spy);
      return subscribe(spy);
    });
    await sync(store, docker);
  });

  it('delivers changes of the named modules only', async () => {
    const feed = statusFeed(modules, { names: ['alpha'] });
    const first = feed.next();
    handling(store, 'beta', true);
    handling(store, 'alpha', true);
    expect(brief((await first).value as StatusFeedItem)).toEqual(['alpha', 'NOT_CREATED', 'HANDLING']);
    const second = feed.next();
    handling(store, 'beta', false);
    handling(store, 'alpha', false);
    expect(brief((await second).value as StatusFeedItem)).toEqual(['alpha', 'HANDLING', 'NOT_CREATED']);
    await feed.return();
  });

  it('delivers changes of every module when no names are given', async () => {
    const feed = statusFeed(modules, {});
    const first = feed.next();
    handling(store, 'beta', true);
    handling(store, 'alpha', true);
    expect(brief((await first).value as StatusFeedItem)).toEqual(['beta', 'RUNNING', 'HANDLING']);
    expect(brief((await feed.next()).value as StatusFeedItem)).toEqual(['alpha', 'NOT_CREATED', 'HANDLING']);
    await feed.return();
  });

  it('fails at once with MODULE_NOT_FOUND for an unknown name', () => {
    let error: unknown;
    try {
      statusFeed(modules, { names: ['alpha', 'nope'] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BerthError);
    expect(error).toMatchObject({ code: 'MODULE_NOT_FOUND', message: expect.stringContaining('"nope"') });
    expect(listeners).toEqual([]);
  });

  it('opens with the current status of each selected module when initial', async () => {
    const feed = statusFeed(modules, { names: ['beta', 'alpha', 'beta'], initial: true });
    const opening = [(await feed.next()).value, (await feed.next()).value] as StatusFeedItem[];
    expect(opening.map(brief)).toEqual([
      ['beta', null, 'RUNNING'],
      ['alpha', null, 'NOT_CREATED'],
    ]);
    expect(opening[0]!.at).toBeInstanceOf(Date);
    const next = feed.next();
    handling(store, 'beta', true);
    expect(brief((await next).value as StatusFeedItem)).toEqual(['beta', 'RUNNING', 'HANDLING']);
    await feed.return();
  });

  it('ends a subscriber that falls more than capacity behind, after what it holds', async () => {
    const onOverflow = vi.fn();
    const feed = statusFeed(modules, { names: ['alpha'], initial: true, capacity: 3, onOverflow });
    await feed.next();
    for (let i = 0; i < 10; i++) handling(store, 'alpha', i % 2 === 0);
    const delivered = [];
    for (let i = 0; i < 3; i++) delivered.push(brief((await feed.next()).value as StatusFeedItem));
    expect(delivered).toEqual([
      ['alpha', 'NOT_CREATED', 'HANDLING'],
      ['alpha', 'HANDLING', 'NOT_CREATED'],
      ['alpha', 'NOT_CREATED', 'HANDLING'],
    ]);
    await expect(feed.next()).resolves.toEqual({ done: true, value: undefined });
    expect(onOverflow).toHaveBeenCalledOnce();
    handling(store, 'alpha', true);
    expect(store.get('alpha')!.status).toBe('HANDLING');
    expect(listeners[0]).toHaveBeenCalledTimes(4);
  });

  it('unsubscribes on return()', async () => {
    const feed = statusFeed(modules, { names: ['alpha'], initial: true });
    await feed.next();
    expect(listeners).toHaveLength(1);
    await expect(feed.return()).resolves.toEqual({ done: true, value: undefined });
    handling(store, 'alpha', true);
    expect(listeners[0]).not.toHaveBeenCalled();
    await expect(feed.next()).resolves.toEqual({ done: true, value: undefined });
  });

  // return() must not wait behind the pending next(), which waits for a change that may never come.
  it('unsubscribes on return() while a next() waits for a change', async () => {
    const feed = statusFeed(modules, { names: ['alpha'] });
    const waiting = feed.next();
    await sleep(0);
    const returned = await Promise.race([feed.return(), sleep(200).then(() => 'timed out')]);
    expect(returned).toEqual({ done: true, value: undefined });
    await expect(waiting).resolves.toEqual({ done: true, value: undefined });
    handling(store, 'alpha', true);
    expect(listeners[0]).not.toHaveBeenCalled();
  });

  it('answers several waiting next() calls in order, and return() answers any still waiting', async () => {
    const feed = statusFeed(modules, { names: ['alpha'] });
    const waiting = [feed.next(), feed.next(), feed.next()];
    handling(store, 'alpha', true);
    handling(store, 'alpha', false);
    expect(brief((await waiting[0]!).value as StatusFeedItem)).toEqual(['alpha', 'NOT_CREATED', 'HANDLING']);
    expect(brief((await waiting[1]!).value as StatusFeedItem)).toEqual(['alpha', 'HANDLING', 'NOT_CREATED']);
    await feed.return();
    await expect(waiting[2]).resolves.toEqual({ done: true, value: undefined });
  });
});
