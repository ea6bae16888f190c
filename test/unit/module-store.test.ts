import { pino } from 'pino';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { labelKeys, moduleLabels } from '../../src/modules/container-spec.ts';
import { ModuleStore, type ModuleStatusChange } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeDockerClient, moduleSpec, project } from './fake-docker-client.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');

describe('ModuleStore', () => {
  let docker: FakeDockerClient;
  let store: ModuleStore;
  let changes: ModuleStatusChange[];

  beforeEach(() => {
    docker = new FakeDockerClient();
    docker.images.add(alpha.image);
    store = new ModuleStore({ docker, config: berthConfig(alpha, beta), logger: pino({ level: 'silent' }) });
    changes = [];
    store.subscribe((change) => changes.push(change));
  });

  const seen = () => changes.map((change) => [change.module.spec.name, change.previous, change.status]);

  it('publishes nothing and is not synced before the first resync', async () => {
    const container = docker.addContainer(alpha, 'exited');
    store.setHandling('alpha', true);
    docker.setState(container.id, 'running');
    await store.apply(containerEvent(container));
    store.setHandling('alpha', false);
    expect(store.get('alpha')!.status).toBe('RUNNING');
    expect(store.synced).toBe(false);
    expect(store.engine).toEqual({ reachable: false, version: undefined, apiVersion: undefined });
    expect(changes).toEqual([]);
  });

  it('sees the engine and every module on resync, without publishing the first look', async () => {
    docker.addContainer(alpha, 'running');
    await expect(store.resync()).resolves.toEqual({ version: '27.3.1', apiVersion: '1.47' });
    expect(store.synced).toBe(true);
    expect(store.engine).toEqual({ reachable: true, version: '27.3.1', apiVersion: '1.47' });
    expect(store.list().map((module) => [module.spec.name, module.status])).toEqual([
      ['alpha', 'RUNNING'],
      ['beta', 'NOT_LOADED'],
    ]);
    expect(changes).toEqual([]);
  });

  it('publishes a status change once, and nothing when the same event comes again', async () => {
    const container = docker.addContainer(alpha, 'running');
    await store.resync();
    docker.setState(container.id, 'exited');
    await store.apply(containerEvent(container, 'die'));
    await store.apply(containerEvent(container, 'die'));
    expect(seen()).toEqual([['alpha', 'RUNNING', 'EXITED']]);
    expect(changes[0]!.module).toMatchObject({ containerId: container.id, exitCode: 0 });
  });

  it('publishes nothing for an event that leaves the status as it was', async () => {
    const container = docker.addContainer(alpha, 'exited');
    await store.resync();
    docker.setState(container.id, 'dead');
    await store.apply(containerEvent(container, 'die'));
    expect(store.get('alpha')!.status).toBe('EXITED');
    expect(changes).toEqual([]);
  });

  it.each([
    ['another project', { ...moduleLabels(project, alpha), [labelKeys.project]: 'other' }],
    ['no berth.managed label', { [labelKeys.project]: project, [labelKeys.module]: 'alpha' }],
  ])('ignores events of containers of %s', async (_, labels) => {
    await store.resync();
    const refresh = vi.spyOn(store, 'refreshModule');
    docker.addContainer(alpha, 'running');
    await store.apply({ type: 'container', action: 'start', id: 'x', attributes: labels, time: new Date() });
    expect(refresh).not.toHaveBeenCalled();
    expect(store.get('alpha')!.status).toBe('NOT_CREATED');
    expect(changes).toEqual([]);
  });

  it('ignores events of modules docker.yaml does not have', async () => {
    await store.resync();
    const stranger = moduleSpec('gamma');
    await store.apply(containerEvent(docker.addContainer(stranger, 'running')));
    expect(store.get('gamma')).toBeUndefined();
    expect(changes).toEqual([]);
  });

  it('publishes HANDLING while handled, then the real status', async () => {
    await store.resync();
    store.setHandling('alpha', true);
    expect(store.get('alpha')!.status).toBe('HANDLING');
    docker.addContainer(alpha, 'running');
    await store.refreshModule('alpha');
    store.setHandling('alpha', false);
    expect(seen()).toEqual([
      ['alpha', 'NOT_CREATED', 'HANDLING'],
      ['alpha', 'HANDLING', 'RUNNING'],
    ]);
  });

  it('keeps the last known state when the engine becomes unreachable', async () => {
    docker.addContainer(alpha, 'running');
    await store.resync();
    store.markUnreachable();
    expect(store.engine).toEqual({ reachable: false, version: '27.3.1', apiVersion: '1.47' });
    expect(store.synced).toBe(true);
    expect(store.get('alpha')!.status).toBe('RUNNING');
    expect(changes).toEqual([]);
  });

  it('moves NOT_LOADED to NOT_CREATED when an image event brings the image', async () => {
    await store.resync();
    docker.images.add(beta.image);
    await store.apply({ type: 'image', action: 'tag', id: 'sha256:beef', attributes: { name: beta.image }, time: new Date() });
    expect(seen()).toEqual([['beta', 'NOT_LOADED', 'NOT_CREATED']]);
    expect(store.get('beta')!.status).toBe('NOT_CREATED');
  });

  it('moves NOT_CREATED back to NOT_LOADED when the image goes', async () => {
    await store.resync();
    docker.images.delete(alpha.image);
    await store.apply({ type: 'image', action: 'untag', id: 'sha256:feed', attributes: {}, time: new Date() });
    expect(seen()).toEqual([['alpha', 'NOT_CREATED', 'NOT_LOADED']]);
  });

  it('still tells the other listeners when one throws', async () => {
    const store = new ModuleStore({ docker, config: berthConfig(alpha), logger: pino({ level: 'silent' }) });
    const after = vi.fn();
    store.subscribe(() => {
      throw new Error('listener bug');
    });
    store.subscribe(after);
    await store.resync();
    store.setHandling('alpha', true);
    expect(after).toHaveBeenCalledExactlyOnceWith(expect.objectContaining({ previous: 'NOT_CREATED', status: 'HANDLING' }));
  });

  it('stops telling a listener that unsubscribed', async () => {
    const listener = vi.fn();
    const unsubscribe = store.subscribe(listener);
    await store.resync();
    unsubscribe();
    store.setHandling('alpha', true);
    expect(listener).not.toHaveBeenCalled();
    expect(changes).toHaveLength(1);
  });

  it('tells when a container it does not own gives up a module\'s container name, by removal or rename', async () => {
    await store.resync();
    const freed = vi.fn();
    store.onNameFreed(freed);
    const foreign = (action: string, attributes: Record<string, string>) => store.apply({ type: 'container', action, id: 'f00d', attributes, time: new Date() });
    await foreign('destroy', { name: alpha.containerName });
    await foreign('rename', { name: 'elsewhere', oldName: `/${beta.containerName}` });
    await foreign('destroy', { name: 'bystander' });
    await foreign('rename', { name: alpha.containerName, oldName: '/bystander' });
    await foreign('die', { name: alpha.containerName });
    expect(freed.mock.calls).toEqual([['alpha'], ['beta']]);
  });

  it('answers from snapshots that a change replaces and never alters', async () => {
    const container = docker.addContainer(alpha, 'running');
    await store.resync();
    const before = store.get('alpha')!;
    expect(store.get('alpha')).toBe(before);
    expect(store.list()).toBe(store.list());
    docker.setState(container.id, 'exited');
    await store.apply(containerEvent(container, 'die'));
    const after = store.get('alpha')!;
    expect([before.status, after.status]).toEqual(['RUNNING', 'EXITED']);
    expect(store.list()).toEqual([after, store.get('beta')]);
    store.setHandling('alpha', true);
    expect(store.get('alpha')!.status).toBe('HANDLING');
    expect(after.status).toBe('EXITED');
  });
});
