import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ContainerDetails } from '../../src/engine/engine-types.ts';
import { BerthError } from '../../src/errors.ts';
import { moduleChangedFeed } from '../../src/graphql/module-feed.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore, type ModuleState } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, handling, healthEvent, moduleSpec, project, sync } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const logger = pino({ level: 'silent' });

const brief = (module: ModuleState | undefined) => module && [module.spec.name, module.status, module.health];

// The bounded queue, the selection and the opening snapshot are shared with statusFeed (status-feed.test.ts).
describe('moduleChangedFeed', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;
  let container: ContainerDetails;
  let listening: number;
  const health = (of: ContainerDetails, verdict: 'healthy' | 'unhealthy') => store.observe({ type: 'event', event: healthEvent(of, verdict) });

  beforeEach(async () => {
    docker = new FakeEngine();
    docker.addImage(alpha.image);
    container = docker.addContainer(beta, 'running', undefined, { healthcheck: true });
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger });
    modules = new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger });
    listening = 0;
    const onModuleChanged = store.onModuleChanged.bind(store);
    vi.spyOn(store, 'onModuleChanged').mockImplementation((listener) => {
      listening++;
      const stop = onModuleChanged(listener);
      return () => {
        listening--;
        return stop();
      };
    });
    await sync(store, docker);
  });

  it('delivers the whole module of the named modules on a change of health alone, and of status', async () => {
    const feed = moduleChangedFeed(modules, { names: ['beta'] });
    handling(store, 'alpha', true);
    health(container, 'healthy');
    handling(store, 'beta', true);
    const delivered = [(await feed.next()).value, (await feed.next()).value];
    expect(delivered.map(brief)).toEqual([
      ['beta', 'RUNNING', 'HEALTHY'],
      ['beta', 'HANDLING', 'HEALTHY'],
    ]);
    expect(delivered[1]).toBe(store.get('beta'));
    await feed.return();
  });

  it('delivers nothing for an observation that changes nothing a query sees', async () => {
    const feed = moduleChangedFeed(modules, {});
    const next = feed.next();
    health(container, 'healthy');
    health(container, 'healthy');
    store.observe({ type: 'container', module: 'beta', container: { ...docker.held.get(container.id)!, health: 'healthy' }, since: store.mark() });
    handling(store, 'alpha', true);
    expect(brief((await next).value)).toEqual(['beta', 'RUNNING', 'HEALTHY']);
    expect(brief((await feed.next()).value)).toEqual(['alpha', 'HANDLING', 'NONE']);
    await feed.return();
  });

  it('opens with the snapshot of each selected module, taken in the same step as it subscribes', async () => {
    const feed = moduleChangedFeed(modules, { names: ['beta', 'alpha', 'beta'], initial: true });
    health(container, 'unhealthy');
    const delivered = [(await feed.next()).value, (await feed.next()).value, (await feed.next()).value];
    expect(delivered.map(brief)).toEqual([
      ['beta', 'RUNNING', 'STARTING'],
      ['alpha', 'NOT_CREATED', 'NONE'],
      ['beta', 'RUNNING', 'UNHEALTHY'],
    ]);
    await feed.return();
  });

  it('fails at once with MODULE_NOT_FOUND for an unknown name, listening to nothing', () => {
    let error: unknown;
    try {
      moduleChangedFeed(modules, { names: ['beta', 'nope'] });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(BerthError);
    expect(error).toMatchObject({ code: 'MODULE_NOT_FOUND', message: expect.stringContaining('"nope"') });
    expect(listening).toBe(0);
  });

  it('ends a subscriber that falls more than capacity behind, after what it holds, and stops listening', async () => {
    const onOverflow = vi.fn();
    const feed = moduleChangedFeed(modules, { names: ['beta'], capacity: 2, onOverflow });
    for (const verdict of ['healthy', 'unhealthy', 'healthy'] as const) health(container, verdict);
    expect([brief((await feed.next()).value), brief((await feed.next()).value)]).toEqual([
      ['beta', 'RUNNING', 'HEALTHY'],
      ['beta', 'RUNNING', 'UNHEALTHY'],
    ]);
    await expect(feed.next()).resolves.toEqual({ done: true, value: undefined });
    expect(onOverflow).toHaveBeenCalledOnce();
    expect(listening).toBe(0);
  });

  it('stops listening on return()', async () => {
    const feed = moduleChangedFeed(modules, { initial: true });
    expect(listening).toBe(1);
    await feed.return();
    expect(listening).toBe(0);
    health(container, 'healthy');
    await expect(feed.next()).resolves.toEqual({ done: true, value: undefined });
  });
});
