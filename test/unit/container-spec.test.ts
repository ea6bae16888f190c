import { describe, expect, it } from 'vitest';
import type { ModuleSpec } from '../../src/config/module-spec.ts';
import { containerCreateOptions, fieldDigests, isOwnedBy, specDigest } from '../../src/modules/container-spec.ts';

const tts: ModuleSpec = {
  name: 'tts',
  kind: 'piper',
  engine: 'local',
  containerName: 'tts_piper',
  image: 'local/piper:1.2',
  autostart: true,
  envs: { VOICE: 'en_US-lessac', MODEL_DIR: '/models' },
  ports: [
    { name: 'http', in: 5000, out: 15000, protocol: 'tcp' },
    { name: 'rtp', in: 5004, out: 5004, protocol: 'udp' },
    { name: 'ctl', in: 7000, out: 17000, protocol: 'sctp' },
  ],
  volumes: [],
  networks: ['demo_default'],
  update: 'manual',
  dependsOn: [],
};

describe('containerCreateOptions', () => {
  const options = containerCreateOptions('demo', tts);

  it('names the container and its image', () => {
    expect(options).toMatchObject({ name: 'tts_piper', Image: 'local/piper:1.2' });
  });

  it('labels the container as berth-managed for the project and module, with the spec digest and its digest per field', () => {
    expect(options.Labels).toEqual({
      'berth.managed': 'true',
      'berth.project': 'demo',
      'berth.module': 'tts',
      'berth.spec': specDigest(tts),
      'berth.spec.fields': JSON.stringify(fieldDigests(tts)),
    });
    expect(specDigest(tts)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('passes envs as KEY=VALUE', () => {
    expect(options.Env).toEqual(['VOICE=en_US-lessac', 'MODEL_DIR=/models']);
  });

  it('exposes and publishes each port under its protocol', () => {
    expect(options.ExposedPorts).toEqual({ '5000/tcp': {}, '5004/udp': {}, '7000/sctp': {} });
    expect(options.HostConfig?.PortBindings).toEqual({
      '5000/tcp': [{ HostPort: '15000' }],
      '5004/udp': [{ HostPort: '5004' }],
      '7000/sctp': [{ HostPort: '17000' }],
    });
  });

  it('binds one container port to two host ports when two names share it', () => {
    const web: ModuleSpec = {
      ...tts,
      ports: [
        { name: 'http', in: 80, out: 8080, protocol: 'tcp' },
        { name: 'http-alt', in: 80, out: 8081, protocol: 'tcp' },
      ],
    };
    const { ExposedPorts, HostConfig } = containerCreateOptions('demo', web);
    expect(ExposedPorts).toEqual({ '80/tcp': {} });
    expect(HostConfig?.PortBindings).toEqual({ '80/tcp': [{ HostPort: '8080' }, { HostPort: '8081' }] });
  });
});

describe('workload keys in the container shape', () => {
  const db: ModuleSpec = {
    ...tts,
    restart: { name: 'on-failure', maximumRetryCount: 3 },
    resources: { nanoCpus: 500_000_000, memoryBytes: 268_435_456 },
    command: ['postgres', '-c', 'fsync=off'],
    entrypoint: ['/entry.sh'],
    user: '999:999',
    workdir: '/var/lib/postgresql',
  };

  it('passes command, entrypoint, user, workdir, the restart policy and the limits to the engine', () => {
    const options = containerCreateOptions('demo', db);
    expect(options).toMatchObject({ Cmd: ['postgres', '-c', 'fsync=off'], Entrypoint: ['/entry.sh'], User: '999:999', WorkingDir: '/var/lib/postgresql' });
    expect(options.HostConfig).toMatchObject({ RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 3 }, NanoCpus: 500_000_000, Memory: 268_435_456 });
  });

  it('leaves the image its own settings where docker.yaml names none', () => {
    const options = containerCreateOptions('demo', tts);
    expect([options.Cmd, options.Entrypoint, options.User, options.WorkingDir, options.HostConfig?.RestartPolicy, options.HostConfig?.Memory]).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });

  it.each<[string, Partial<ModuleSpec>]>([
    ['restart', { restart: { name: 'always', maximumRetryCount: 0 } }],
    ['resources', { resources: { memoryBytes: 7_000_000 } }],
    ['command', { command: ['sleep', '1'] }],
    ['entrypoint', { entrypoint: ['/bin/sh'] }],
    ['user', { user: '1000' }],
    ['workdir', { workdir: '/srv' }],
    ['volumes', { volumes: [{ entry: 'data:/data', type: 'volume', source: 'demo_data', target: '/data', readOnly: false }] }],
    ['networks', { networks: ['demo_default', 'demo_backend'] }],
    ['healthcheck', { healthcheck: { test: ['CMD', 'true'] } }],
  ])('counts a change of %s, so that the container is recreated', (_, change) => {
    expect(specDigest({ ...db, ...change })).not.toBe(specDigest(db));
    expect(specDigest({ ...tts, ...change })).not.toBe(specDigest(tts));
  });

  it('leaves unset keys out of the digest, so that adding a key to berth does not recreate every container', () => {
    expect(specDigest(tts)).toBe(specDigest({ ...tts, restart: undefined, resources: undefined, command: undefined, healthcheck: undefined }));
  });

  // Containers made before every module joined <project>_default are recreated on their next start, to join it.
  it('differs from the digest of containers made before the project network', () => {
    expect(specDigest(tts)).not.toBe('8fb9d3f4819a0526');
  });
});

describe('specDigest', () => {
  it('is stable for the same spec', () => {
    expect(specDigest({ ...tts, envs: { ...tts.envs } })).toBe(specDigest(tts));
  });

  // docker.yaml order is not a change: reordering must not recreate the container.
  it('ignores the order of envs', () => {
    const reordered: ModuleSpec = { ...tts, envs: { MODEL_DIR: '/models', VOICE: 'en_US-lessac' } };
    expect(Object.keys(reordered.envs)).not.toEqual(Object.keys(tts.envs));
    expect(specDigest(reordered)).toBe(specDigest(tts));
  });

  it('ignores the order of ports', () => {
    const reordered: ModuleSpec = {
      ...tts,
      ports: [
        { name: 'rtp', in: 5004, out: 5004, protocol: 'udp' },
        { name: 'ctl', in: 7000, out: 17000, protocol: 'sctp' },
        { name: 'http', in: 5000, out: 15000, protocol: 'tcp' },
      ],
    };
    expect(specDigest(reordered)).toBe(specDigest(tts));
  });

  it.each<[string, Partial<ModuleSpec>]>([
    ['an env value', { envs: { ...tts.envs, VOICE: 'de_DE-thorsten' } }],
    ['an added env', { envs: { ...tts.envs, DEBUG: '1' } }],
    ['the image', { image: 'local/piper:1.3' }],
    ['a host port', { ports: [{ name: 'http', in: 5000, out: 15001, protocol: 'tcp' }] }],
  ])('changes with %s', (_, change) => {
    expect(specDigest({ ...tts, ...change })).not.toBe(specDigest(tts));
  });
});

describe('isOwnedBy', () => {
  const labels = { 'berth.managed': 'true', 'berth.project': 'demo', 'berth.module': 'tts', 'com.example': 'x' };

  it('holds for berth labels of the same project and module', () => {
    expect(isOwnedBy(labels, 'demo', tts)).toBe(true);
  });

  it('fails for another project', () => {
    expect(isOwnedBy(labels, 'other', tts)).toBe(false);
  });

  it('fails for another module', () => {
    expect(isOwnedBy({ ...labels, 'berth.module': 'scraper' }, 'demo', tts)).toBe(false);
  });

  it.each(['berth.managed', 'berth.project', 'berth.module'])('fails without %s', (key) => {
    const without = Object.fromEntries(Object.entries(labels).filter(([name]) => name !== key));
    expect(isOwnedBy(without, 'demo', tts)).toBe(false);
  });

  it('fails for a container without labels', () => {
    expect(isOwnedBy({}, 'demo', tts)).toBe(false);
  });

  it('fails when berth.managed is not "true"', () => {
    expect(isOwnedBy({ ...labels, 'berth.managed': 'false' }, 'demo', tts)).toBe(false);
  });
});
