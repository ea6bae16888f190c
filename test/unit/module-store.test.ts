import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineEvent } from '../../src/engine/engine-types.ts';
import { labelKeys, moduleLabels } from '../../src/modules/container-spec.ts';
import { ModuleStore, type ModuleState, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeEngine, handling, healthEvent, moduleSpec, project, sync } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const shared = moduleSpec('shared', { image: 'example/alpha:1' });

const imageEvent = (action: string, id: string, name?: string): EngineEvent => ({ type: 'image', action, id, attributes: name ? { name } : {}, time: new Date() });

describe('ModuleStore', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let changes: ModuleStatusChange[];

  beforeEach(() => {
    docker = new FakeEngine();
    docker.addImage(alpha.image);
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger: pino({ level: 'silent' }) });
    changes = [];
    store.subscribe((change) => changes.push(change));
  });

  const seen = () => changes.map((change) => [change.module.spec.name, change.previous, change.status]);
  const event = (event: EngineEvent) => store.observe({ type: 'event', event });

  it('publishes nothing and is not synced before the first sync', () => {
    const container = docker.addContainer(alpha, 'running');
    handling(store, 'alpha', true);
    event(containerEvent(container));
    handling(store, 'alpha', false);
    expect(store.get('alpha')!.status).toBe('RUNNING');
    expect(store.synced).toBe(false);
    expect(store.engine).toEqual({ reachable: false, version: undefined, apiVersion: undefined });
    expect(changes).toEqual([]);
  });

  it('sees the engine and every module on the first sync, without publishing the first look', async () => {
    docker.addContainer(alpha, 'running');
    await sync(store, docker);
    expect(store.synced).toBe(true);
    expect(store.engine).toEqual({ reachable: true, version: '27.3.1', apiVersion: '1.47' });
    expect(store.list().map((module) => [module.spec.name, module.status])).toEqual([
      ['alpha', 'RUNNING'],
      ['beta', 'NOT_LOADED'],
    ]);
    expect(changes).toEqual([]);
  });

  it("asks the engine for a declared image its list names otherwise, as Podman lists a loaded example/beta:1 as localhost/example/beta:1", async () => {
    const id = docker.addImage(`localhost/${beta.image}`);
    const inspect = docker.images.inspect;
    // Podman's resolution of a short name: its own storage's localhost/ first.
    docker.images.inspect = async (reference) => (await inspect(reference)) ?? inspect(`localhost/${reference}`);
    await sync(store, docker);
    expect(store.get('beta')!.status).toBe('NOT_CREATED');
    expect(store.image(beta.image)).toEqual({ id });
    expect(docker.calls.filter((call) => call.startsWith('images.inspect'))).toEqual([`images.inspect ${beta.image}`, `images.inspect localhost/${beta.image}`]);
  });

  it('publishes a status change once, from the event alone, and nothing when the same event comes again', async () => {
    const container = docker.addContainer(alpha, 'running');
    await sync(store, docker);
    docker.setState(container.id, 'exited');
    const first = event(containerEvent(container, 'die'));
    const again = event(containerEvent(container, 'die'));
    expect(first).toEqual({ changes: [expect.objectContaining({ previous: 'RUNNING', status: 'EXITED' })], reread: [], recheck: [] });
    expect(again).toEqual({ changes: [], reread: [], recheck: [] });
    expect(seen()).toEqual([['alpha', 'RUNNING', 'EXITED']]);
    expect(changes[0]!.module).toMatchObject({ containerId: container.id, exitCode: 0 });
  });

  it('publishes nothing for an event that leaves the status as it was', async () => {
    const container = docker.addContainer(alpha, 'exited');
    await sync(store, docker);
    event(containerEvent(container, 'die'));
    expect(store.get('alpha')!.status).toBe('EXITED');
    expect(changes).toEqual([]);
  });

  it.each([
    ['another project', { ...moduleLabels(project, alpha), [labelKeys.project]: 'other' }],
    ['no berth.managed label', { [labelKeys.project]: project, [labelKeys.module]: 'alpha' }],
    ['a module docker.yaml does not have', moduleLabels(project, moduleSpec('gamma'))],
  ])('ignores events of containers of %s', async (_, labels) => {
    await sync(store, docker);
    expect(event({ type: 'container', action: 'start', id: 'x', attributes: labels, time: new Date() })).toEqual({ changes: [], reread: [], recheck: [] });
    expect(store.get('alpha')!.status).toBe('NOT_CREATED');
    expect(store.get('gamma')).toBeUndefined();
  });

  it('asks for the module to be read again when an event is about another of its containers', async () => {
    docker.addContainer(alpha, 'running');
    await sync(store, docker);
    const stray = docker.addContainer(alpha, 'exited');
    expect(event(containerEvent(stray, 'die'))).toEqual({ changes: [], reread: ['alpha'], recheck: [] });
    expect(store.get('alpha')!.status).toBe('RUNNING');
  });

  it('drops a read that began before a newer observation of the module, and takes one that did not', async () => {
    const container = docker.addContainer(alpha, 'running');
    await sync(store, docker);
    const before = store.mark();
    event(containerEvent({ ...container, exitCode: 1 }, 'die'));
    expect(store.observe({ type: 'container', module: 'alpha', container, since: before }).changes).toEqual([]);
    expect(store.get('alpha')!.status).toBe('EXITED');
    const after = store.mark();
    expect(store.observe({ type: 'container', module: 'alpha', container, since: after }).changes).toHaveLength(1);
    expect(store.get('alpha')!.status).toBe('RUNNING');
  });

  it('keeps the read that began last, whichever of two reads lands first', async () => {
    await sync(store, docker);
    const present = { id: 'sha256:beef' };
    const [older, newer] = [store.mark(), store.mark()];
    store.observe({ type: 'image', reference: beta.image, image: undefined, since: older });
    store.observe({ type: 'image', reference: beta.image, image: present, since: newer });
    expect(store.get('beta')!.status).toBe('NOT_CREATED');
    const [first, second] = [store.mark(), store.mark()];
    store.observe({ type: 'image', reference: beta.image, image: undefined, since: second });
    store.observe({ type: 'image', reference: beta.image, image: present, since: first });
    expect(store.get('beta')!.status).toBe('NOT_LOADED');
  });

  it('publishes HANDLING while handled, then the real status', async () => {
    await sync(store, docker);
    handling(store, 'alpha', true);
    expect(store.get('alpha')!.status).toBe('HANDLING');
    const container = docker.addContainer(alpha, 'running');
    store.observe({ type: 'container', module: 'alpha', container, since: store.mark() });
    handling(store, 'alpha', false);
    expect(seen()).toEqual([
      ['alpha', 'NOT_CREATED', 'HANDLING'],
      ['alpha', 'HANDLING', 'RUNNING'],
    ]);
  });

  it('keeps the last known state when the engine becomes unreachable', async () => {
    docker.addContainer(alpha, 'running');
    await sync(store, docker);
    store.observe({ type: 'unreachable' });
    expect(store.engine).toEqual({ reachable: false, version: '27.3.1', apiVersion: '1.47' });
    expect(store.synced).toBe(true);
    expect(store.get('alpha')!.status).toBe('RUNNING');
    expect(changes).toEqual([]);
  });

  it('shows the image once the container is destroyed: NOT_CREATED with it, NOT_LOADED without', async () => {
    const container = docker.addContainer(alpha, 'exited');
    await sync(store, docker);
    event(containerEvent(container, 'destroy'));
    expect(seen()).toEqual([['alpha', 'EXITED', 'NOT_CREATED']]);
    store.observe({ type: 'image', reference: alpha.image, image: undefined, since: store.mark() });
    expect(seen().at(-1)).toEqual(['alpha', 'NOT_CREATED', 'NOT_LOADED']);
  });

  describe('image events', () => {
    let other: ModuleStore;

    beforeEach(async () => {
      other = new ModuleStore({ config: berthConfig(alpha, beta, shared) });
      await sync(other, docker);
    });
    const recheck = (event: EngineEvent) => other.observe({ type: 'event', event }).recheck;

    it('cost nothing for images docker.yaml does not name', () => {
      expect(recheck(imageEvent('tag', 'sha256:0123', 'someone/else:2'))).toEqual([]);
      expect(recheck(imageEvent('untag', 'sha256:0123', 'sha256:0123'))).toEqual([]);
      expect(recheck(imageEvent('delete', 'sha256:0123', 'sha256:0123'))).toEqual([]);
      expect(recheck(imageEvent('pull', 'someone/else:2', 'someone/else'))).toEqual([]);
    });

    it('recheck a declared reference that the event names, in any of its spellings, once for every module of it', () => {
      expect(recheck(imageEvent('tag', 'sha256:0123', 'example/beta:1'))).toEqual(['example/beta:1']);
      expect(recheck(imageEvent('pull', 'docker.io/example/alpha:1'))).toEqual(['example/alpha:1']);
    });

    it('recheck the references of an image id berth saw, for events that name only the id', () => {
      const id = other.image(alpha.image)!.id;
      expect(recheck(imageEvent('untag', id, id))).toEqual(['example/alpha:1']);
      expect(recheck(imageEvent('delete', id, id))).toEqual(['example/alpha:1']);
    });

    it('recheck every declared reference after a load, which names only the id it loaded and may have moved a tag to it', () => {
      expect(recheck(imageEvent('load', 'sha256:0123', 'sha256:0123'))).toEqual(['example/alpha:1', 'example/beta:1']);
    });

    it('move NOT_LOADED to NOT_CREATED and back as the rechecked image comes and goes', () => {
      other.observe({ type: 'image', reference: beta.image, image: { id: 'sha256:beef' }, since: other.mark() });
      expect(other.get('beta')!.status).toBe('NOT_CREATED');
      other.observe({ type: 'image', reference: alpha.image, image: undefined, since: other.mark() });
      expect([other.get('alpha')!.status, other.get('shared')!.status]).toEqual(['NOT_LOADED', 'NOT_LOADED']);
    });
  });

  it('still tells the other listeners when one throws', async () => {
    const store = new ModuleStore({ config: berthConfig(alpha), logger: pino({ level: 'silent' }) });
    const after = vi.fn();
    store.subscribe(() => {
      throw new Error('listener bug');
    });
    store.subscribe(after);
    await sync(store, docker);
    handling(store, 'alpha', true);
    expect(after).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ previous: 'NOT_CREATED', status: 'HANDLING' }));
  });

  it('stops telling a listener that unsubscribed', async () => {
    const listener = vi.fn();
    const unsubscribe = store.subscribe(listener);
    await sync(store, docker);
    unsubscribe();
    handling(store, 'alpha', true);
    expect(listener).not.toHaveBeenCalled();
    expect(changes).toHaveLength(1);
  });

  it("tells when a container it does not own gives up a module's container name, by removal or rename", async () => {
    await sync(store, docker);
    const freed = vi.fn();
    store.onNameFreed(freed);
    const foreign = (action: string, attributes: Record<string, string>) => event({ type: 'container', action, id: 'f00d', attributes, time: new Date() });
    foreign('destroy', { name: alpha.containerName });
    foreign('rename', { name: 'elsewhere', oldName: `/${beta.containerName}` });
    foreign('destroy', { name: 'bystander' });
    foreign('rename', { name: alpha.containerName, oldName: '/bystander' });
    foreign('die', { name: alpha.containerName });
    expect(freed.mock.calls).toEqual([['alpha'], ['beta']]);
  });

  it('answers from snapshots that a change replaces and never alters', async () => {
    const container = docker.addContainer(alpha, 'running');
    await sync(store, docker);
    const before = store.get('alpha')!;
    expect(store.get('alpha')).toBe(before);
    expect(store.list()).toBe(store.list());
    event(containerEvent(container, 'die'));
    const after = store.get('alpha')!;
    expect([before.status, after.status]).toEqual(['RUNNING', 'EXITED']);
    expect(store.list()).toEqual([after, store.get('beta')]);
    handling(store, 'alpha', true);
    expect(store.get('alpha')!.status).toBe('HANDLING');
    expect(after.status).toBe('EXITED');
  });

  describe('health', () => {
    const read = (id: string) => store.observe({ type: 'container', module: 'alpha', container: docker.held.get(id) && { ...docker.held.get(id)! }, since: store.mark() });
    const health = () => store.get('alpha')!.health;

    it('comes from reads: NONE without a healthcheck and before the first start, else the verdict the engine reports', async () => {
      const container = docker.addContainer(alpha, 'created', undefined, { healthcheck: true });
      docker.addContainer(beta, 'running');
      await sync(store, docker);
      expect([health(), store.get('beta')!.health]).toEqual(['NONE', 'NONE']);
      docker.setState(container.id, 'running');
      read(container.id);
      expect(health()).toBe('STARTING');
      docker.setHealth(container.id, 'healthy');
      read(container.id);
      expect(health()).toBe('HEALTHY');
      docker.setState(container.id, 'exited');
      read(container.id);
      expect(store.get('alpha')).toMatchObject({ status: 'EXITED', health: 'UNHEALTHY' });
    });

    // Each step as the engine does it (seen on 20.10): the store, from events alone, says what an inspect would.
    it('follows events as a later inspect would see them, without reading the engine', async () => {
      const container = docker.addContainer(alpha, 'created', undefined, { healthcheck: true });
      await sync(store, docker);
      const steps: [string, () => void][] = [
        ['start', () => docker.setState(container.id, 'running')],
        ['health_status: healthy', () => docker.setHealth(container.id, 'healthy')],
        ['health_status: unhealthy', () => docker.setHealth(container.id, 'unhealthy')],
        ['health_status: healthy', () => docker.setHealth(container.id, 'healthy')],
        ['die', () => docker.setState(container.id, 'exited')],
        ['stop', () => {}],
        ['start', () => docker.setState(container.id, 'running')],
        ['health_status: healthy', () => docker.setHealth(container.id, 'healthy')],
        ['pause', () => docker.setState(container.id, 'paused')],
        ['unpause', () => (docker.held.get(container.id)!.state = 'running')],
        ['health_status: healthy', () => docker.setHealth(container.id, 'healthy')],
        ['restart', () => docker.setState(container.id, 'running')],
      ];
      const seenHealth = steps.map(([action, onEngine]) => {
        onEngine();
        const [name, detail] = action.split(': ');
        const outcome = event(detail ? healthEvent(container, detail as 'healthy') : containerEvent(docker.held.get(container.id)!, name));
        expect(outcome.reread).toEqual([]);
        const inspected = docker.held.get(container.id)!.health;
        expect(health(), `after ${action}`).toBe(inspected?.toUpperCase() ?? 'NONE');
        return health();
      });
      expect(seenHealth).toEqual(['STARTING', 'HEALTHY', 'UNHEALTHY', 'HEALTHY', 'UNHEALTHY', 'UNHEALTHY', 'STARTING', 'HEALTHY', 'UNHEALTHY', 'UNHEALTHY', 'HEALTHY', 'STARTING']);
    });

    it('stays NONE through start, death and health-less events for a container without a healthcheck', async () => {
      const container = docker.addContainer(alpha, 'exited');
      await sync(store, docker);
      for (const action of ['start', 'die', 'start', 'pause', 'unpause']) expect(event(containerEvent(container, action)).reread).toEqual([]);
      expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'NONE' });
    });

    it('reads again a container it knows only from events, whose healthcheck no event tells', async () => {
      await sync(store, docker);
      const container = docker.addContainer(alpha, 'created', undefined, { healthcheck: true });
      expect(event(containerEvent(container, 'create')).reread).toEqual(['alpha']);
      expect(event(containerEvent(container, 'start')).reread).toEqual(['alpha']);
      docker.setState(container.id, 'running');
      read(container.id);
      expect(health()).toBe('STARTING');
      expect(event(containerEvent(container, 'die')).reread).toEqual([]);
      expect(health()).toBe('UNHEALTHY');
    });

    it('takes a health_status event as proof of a healthcheck, and changes neither status nor start time with it', async () => {
      await sync(store, docker);
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      event(containerEvent(container, 'start'));
      const { startedAt } = store.get('alpha')!;
      expect(event(healthEvent(container, 'healthy'))).toEqual({ changes: [], reread: [], recheck: [] });
      expect(store.get('alpha')).toMatchObject({ status: 'RUNNING', health: 'HEALTHY', startedAt });
      expect(event(containerEvent(container, 'die')).reread).toEqual([]);
      expect(health()).toBe('UNHEALTHY');
      expect(seen()).toEqual([['alpha', 'NOT_CREATED', 'RUNNING'], ['alpha', 'RUNNING', 'EXITED']]);
    });

    it("reads again a container whose health_status event gives no verdict, as Podman's do", async () => {
      await sync(store, docker);
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      event(containerEvent(container, 'start'));
      docker.setHealth(container.id, 'healthy');
      expect(event(containerEvent(container, 'health_status')).reread).toEqual(['alpha']);
      read(container.id);
      expect(health()).toBe('HEALTHY');
    });
  });

  describe('onModuleChanged', () => {
    let modulesSeen: ModuleState[];
    const heard = () => modulesSeen.map((module) => [module.spec.name, module.status, module.health]);

    beforeEach(() => {
      modulesSeen = [];
      store.onModuleChanged((module) => modulesSeen.push(module));
    });

    it('tells of a health change, which is no status change, with the new snapshot', async () => {
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      await sync(store, docker);
      event(healthEvent(container, 'healthy'));
      expect(heard()).toEqual([['alpha', 'RUNNING', 'HEALTHY']]);
      expect(modulesSeen[0]).toBe(store.get('alpha'));
      expect(changes).toEqual([]);
    });

    it('tells nothing of the first look, nor of observations that leave what a query sees as it was', async () => {
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      await sync(store, docker);
      event(healthEvent(container, 'starting'));
      store.observe({ type: 'container', module: 'alpha', container: { ...container }, since: store.mark() });
      store.observe({ type: 'image', reference: alpha.image, image: store.image(alpha.image), since: store.mark() });
      store.observe({ type: 'unreachable' });
      await sync(store, docker);
      expect(store.get('alpha')!.health).toBe('STARTING');
      expect(modulesSeen).toEqual([]);
    });

    it('tells once per observation, after the status subscribers, of every visible change', async () => {
      const order: string[] = [];
      store.subscribe(() => order.push('status'));
      store.onModuleChanged(() => order.push('module'));
      const container = docker.addContainer(alpha, 'running');
      await sync(store, docker);
      event(containerEvent({ ...container, exitCode: 3 }, 'die'));
      const replaced = docker.addContainer(alpha, 'exited');
      store.observe({ type: 'container', module: 'alpha', container: { ...replaced, exitCode: 3 }, since: store.mark() });
      expect(order).toEqual(['status', 'module', 'module']);
      expect(modulesSeen.map((module) => [module.status, module.containerId, module.exitCode])).toEqual([
        ['EXITED', container.id, 3],
        ['EXITED', replaced.id, 3],
      ]);
      expect(seen()).toEqual([['alpha', 'RUNNING', 'EXITED']]);
    });

    it('tells of a new start time or exit code alone', async () => {
      const container = docker.addContainer(alpha, 'exited');
      await sync(store, docker);
      store.observe({ type: 'container', module: 'alpha', container: { ...container, exitCode: 1 }, since: store.mark() });
      store.observe({ type: 'container', module: 'alpha', container: { ...container, exitCode: 1, startedAt: new Date(1) }, since: store.mark() });
      store.observe({ type: 'container', module: 'alpha', container: { ...container, exitCode: 1, startedAt: new Date(1) }, since: store.mark() });
      expect(modulesSeen.map((module) => [module.exitCode, module.startedAt?.getTime()])).toEqual([
        [1, undefined],
        [1, 1],
      ]);
    });

    it('tells nothing of a read that an event overtook', async () => {
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      await sync(store, docker);
      const before = store.mark();
      event(healthEvent(container, 'healthy'));
      store.observe({ type: 'container', module: 'alpha', container: { ...container, health: 'starting' }, since: before });
      expect(heard()).toEqual([['alpha', 'RUNNING', 'HEALTHY']]);
      expect(store.get('alpha')!.health).toBe('HEALTHY');
    });

    it('tells the other listeners when one throws, and no longer one that left', async () => {
      const container = docker.addContainer(alpha, 'running', undefined, { healthcheck: true });
      const left = vi.fn();
      store.onModuleChanged(() => {
        throw new Error('listener bug');
      });
      store.onModuleChanged(left)();
      await sync(store, docker);
      event(healthEvent(container, 'unhealthy'));
      expect(heard()).toEqual([['alpha', 'RUNNING', 'UNHEALTHY']]);
      expect(left).not.toHaveBeenCalled();
    });
  });
});
