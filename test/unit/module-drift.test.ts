import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { ModuleSpec } from '../../src/config/module-spec.ts';
import type { ContainerDetails } from '../../src/engine/engine-types.ts';
import { containerCreateOptions, fieldDigests, labelKeys } from '../../src/modules/container-spec.ts';
import { moduleDrift } from '../../src/modules/module-drift.ts';
import { ModuleStore, type ModuleState } from '../../src/modules/module-store.ts';
import { berthConfig, FakeEngine, moduleSpec, project, sync } from './fake-engine.ts';

const imageId = 'sha256:aaaa';

const web = moduleSpec('web', {
  envs: { GREETING: 'hello', TOKEN: 's3cret' },
  ports: [
    { name: 'http', in: 80, out: 8080, protocol: 'tcp' },
    { name: 'metrics', in: 9100, out: 19100, protocol: 'tcp' },
  ],
  command: ['httpd', '-f'],
  healthcheck: { test: ['CMD', 'true'], intervalNs: 1e9 },
});

/** The container berth would make of the spec, as an inspect reads it back. */
function containerOf(spec: ModuleSpec, madeFrom = imageId): ContainerDetails {
  const labels = containerCreateOptions('demo', spec).Labels ?? {};
  return { id: 'c1', name: spec.containerName, state: 'running', labels, image: spec.image, imageId: madeFrom, startedAt: undefined, exitCode: undefined };
}

describe('fieldDigests', () => {
  it('has one digest per field docker.yaml sets, env and port names included, and leaves unset fields out', () => {
    expect(Object.keys(fieldDigests(web)).sort()).toEqual(
      ['command', 'containerName', 'envs.GREETING', 'envs.TOKEN', 'healthcheck', 'image', 'networks', 'ports.http', 'ports.metrics', 'volumes'].sort(),
    );
  });

  it('holds no env value', () => {
    expect(JSON.stringify(fieldDigests(web))).not.toMatch(/s3cret|hello/);
  });

  it('ignores the order of envs and ports', () => {
    const reordered = { ...web, envs: { TOKEN: 's3cret', GREETING: 'hello' }, ports: [...web.ports].reverse() };
    expect(fieldDigests(reordered)).toEqual(fieldDigests(web));
  });
});

describe('moduleDrift', () => {
  it('is empty when the container was made from the spec and its image', () => {
    expect(moduleDrift(web, containerOf(web), imageId)).toEqual([]);
  });

  it('is empty without a container', () => {
    expect(moduleDrift(web, undefined, imageId)).toEqual([]);
  });

  it.each<[string, Partial<ModuleSpec>, string[]]>([
    ['an image', { image: 'example/web:2' }, ['image']],
    ['an env value', { envs: { GREETING: 'bonjour', TOKEN: 's3cret' } }, ['envs.GREETING']],
    ['an added and a removed env', { envs: { GREETING: 'hello', EXTRA: '1' } }, ['envs.EXTRA', 'envs.TOKEN']],
    ['a port', { ports: [{ name: 'http', in: 80, out: 8081, protocol: 'tcp' }, web.ports[1]!] }, ['ports.http']],
    ['a removed port', { ports: [web.ports[0]!] }, ['ports.metrics']],
    ['volumes', { volumes: [{ entry: 'data:/data', type: 'volume', source: 'demo_data', target: '/data', readOnly: false }] }, ['volumes']],
    ['the command', { command: ['httpd', '-v'] }, ['command']],
    ['an unset command', { command: undefined }, ['command']],
    ['the entrypoint', { entrypoint: ['/entry'] }, ['entrypoint']],
    ['the user', { user: '1000' }, ['user']],
    ['the workdir', { workdir: '/srv' }, ['workdir']],
    ['the restart policy', { restart: { name: 'always', maximumRetryCount: 0 } }, ['restart']],
    ['resources', { resources: { memoryBytes: 64 * 1024 ** 2 } }, ['resources']],
    ['the healthcheck', { healthcheck: { test: ['CMD', 'false'] } }, ['healthcheck']],
    ['networks', { networks: ['testproj_default', 'testproj_backend'] }, ['networks']],
    ['the kind (container name)', { containerName: 'web_other' }, ['containerName']],
  ])('names the field when docker.yaml changes %s', (_, change, drift) => {
    expect(moduleDrift({ ...web, ...change }, containerOf(web), imageId)).toEqual(drift);
  });

  it('does not count autostart, update nor dependsOn: they are not the container', () => {
    const changed = { ...web, autostart: true, update: 'auto' as const, dependsOn: [{ module: 'db', condition: 'started' as const }] };
    expect(moduleDrift(changed, containerOf(web), imageId)).toEqual([]);
  });

  it('names imageId when the reference now names another image, and only when both ids are known', () => {
    expect(moduleDrift(web, containerOf(web), 'sha256:bbbb')).toEqual(['imageId']);
    expect(moduleDrift(web, containerOf(web), undefined)).toEqual([]);
    expect(moduleDrift(web, { ...containerOf(web), imageId: undefined }, 'sha256:bbbb')).toEqual([]);
  });

  it('sorts what it names', () => {
    expect(moduleDrift({ ...web, image: 'example/web:2', command: ['x'] }, containerOf(web), 'sha256:bbbb')).toEqual(['command', 'image', 'imageId']);
  });

  it('falls back to the whole-spec digest for a container made before the digest per field: spec', () => {
    const older = containerOf(web);
    const labels = Object.fromEntries(Object.entries(older.labels).filter(([key]) => key !== labelKeys.fields));
    expect(moduleDrift(web, { ...older, labels }, imageId)).toEqual([]);
    expect(moduleDrift({ ...web, command: ['x'] }, { ...older, labels }, imageId)).toEqual(['spec']);
    expect(moduleDrift(web, { ...older, labels: { ...labels, [labelKeys.fields]: 'not json' } }, 'sha256:bbbb')).toEqual(['imageId']);
  });
});

describe('drift in the store', () => {
  it('reaches moduleChanged listeners when the image a reference names moves, and when it moves back', async () => {
    const docker = new FakeEngine();
    const madeFrom = docker.addImage(web.image);
    docker.addContainer(web, 'running', containerCreateOptions(project, web).Labels).imageId = madeFrom;
    const store = new ModuleStore({ config: berthConfig(web), logger: pino({ level: 'silent' }) });
    await sync(store, docker);
    const changed: ModuleState[] = [];
    store.onModuleChanged((module) => changed.push(module));
    expect(store.get('web')!.drift).toEqual([]);
    store.observe({ type: 'image', reference: web.image, image: { id: 'sha256:moved' }, since: store.mark() });
    store.observe({ type: 'image', reference: web.image, image: { id: madeFrom }, since: store.mark() });
    expect(changed.map((module) => module.drift)).toEqual([['imageId'], []]);
  });
});
