import { describe, expect, it } from 'vitest';
import { readSettings, SettingsError } from '../../src/config/settings.ts';

describe('readSettings', () => {
  it('defaults everything', () => {
    expect(readSettings({})).toEqual({
      port: 4000,
      host: '127.0.0.1',
      configFile: './docker.yaml',
      dockerHost: undefined,
      logLevel: 'info',
      auth: { mode: 'off', why: 'loopback' },
      graphiql: true,
      resyncSeconds: 60,
      dependencyTimeoutSeconds: 300,
      updateTimeoutSeconds: 60,
      introspection: true,
      limits: { connections: 4096, subscriptionsPerConnection: 100, bodyBytes: 100_000, uploadBytes: 10 * 1024 ** 3 },
    });
  });

  it('reads each variable', () => {
    expect(
      readSettings({
        PORT: '8080',
        HOST: '0.0.0.0',
        BERTH_CONFIG: '/etc/berth.yaml',
        DOCKER_HOST: 'tcp://engine:2376',
        LOG_LEVEL: 'debug',
        BERTH_TOKENS_FILE: '/run/secrets/tokens.yaml',
        BERTH_GRAPHIQL: 'off',
        BERTH_INTROSPECTION: 'off',
        BERTH_MAX_CONNECTIONS: '100',
        BERTH_MAX_SUBSCRIPTIONS: '5',
        BERTH_MAX_BODY_BYTES: '2048',
        BERTH_MAX_UPLOAD_BYTES: '4096',
        BERTH_RESYNC_SECONDS: '15',
        BERTH_DEPENDENCY_TIMEOUT_SECONDS: '45',
        BERTH_UPDATE_TIMEOUT_SECONDS: '90',
      }),
    ).toEqual({
      port: 8080,
      host: '0.0.0.0',
      configFile: '/etc/berth.yaml',
      dockerHost: 'tcp://engine:2376',
      logLevel: 'debug',
      auth: { mode: 'tokens', file: '/run/secrets/tokens.yaml' },
      graphiql: false,
      resyncSeconds: 15,
      dependencyTimeoutSeconds: 45,
      updateTimeoutSeconds: 90,
      introspection: false,
      limits: { connections: 100, subscriptionsPerConnection: 5, bodyBytes: 2048, uploadBytes: 4096 },
    });
  });

  describe('authentication', () => {
    it.each(['127.0.0.1', '127.3.2.1', 'localhost', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])('is off without a tokens file on loopback HOST=%s', (host) => {
      expect(readSettings({ HOST: host }).auth).toEqual({ mode: 'off', why: 'loopback' });
    });

    it.each(['0.0.0.0', '::', '192.168.1.10', 'berth.internal', '127.999.0.1', '127.0.0.1.nip.io'])('refuses HOST=%s beyond loopback without a tokens file', (host) => {
      expect(() => readSettings({ HOST: host })).toThrow(/^environment variable HOST: .* no BERTH_TOKENS_FILE is set\. Set BERTH_TOKENS_FILE .* or set BERTH_AUTH=off/);
    });

    it('is off beyond loopback only when BERTH_AUTH=off says so', () => {
      expect(readSettings({ HOST: '0.0.0.0', BERTH_AUTH: 'off' }).auth).toEqual({ mode: 'off', why: 'BERTH_AUTH=off' });
    });

    it('refuses contradictions: BERTH_AUTH=off with a tokens file, BERTH_AUTH=on without one', () => {
      expect(() => readSettings({ BERTH_AUTH: 'off', BERTH_TOKENS_FILE: 't.yaml' })).toThrow(/BERTH_AUTH: off contradicts BERTH_TOKENS_FILE/);
      expect(() => readSettings({ BERTH_AUTH: 'on' })).toThrow(/BERTH_AUTH: on needs BERTH_TOKENS_FILE/);
      expect(() => readSettings({ BERTH_AUTH: 'maybe' })).toThrow(/BERTH_AUTH: expected on or off/);
    });
  });

  it.each(['0', '-3', 'many'])('rejects BERTH_MAX_SUBSCRIPTIONS=%s', (value) => {
    expect(() => readSettings({ BERTH_MAX_SUBSCRIPTIONS: value })).toThrow(/^environment variable BERTH_MAX_SUBSCRIPTIONS: expected a whole number of at least 1/);
  });

  it('rejects a BERTH_RESYNC_SECONDS past a day, which Node would turn into a resync every millisecond', () => {
    expect(readSettings({ BERTH_RESYNC_SECONDS: '86400' }).resyncSeconds).toBe(86_400);
    expect(() => readSettings({ BERTH_RESYNC_SECONDS: '2147484' })).toThrow(/^environment variable BERTH_RESYNC_SECONDS: expected at most 86400 seconds/);
  });

  it.each(['0', '1', '65535'])('accepts PORT=%s', (port) => {
    expect(readSettings({ PORT: port }).port).toBe(Number(port));
  });

  it.each(['abc', '65536', '-1', '1.5'])('rejects PORT=%s', (port) => {
    expect(() => readSettings({ PORT: port })).toThrow(SettingsError);
    expect(() => readSettings({ PORT: port })).toThrow(/^environment variable PORT: /);
  });

  it('treats an empty PORT as unset rather than as port 0', () => {
    expect(readSettings({ PORT: '' }).port).toBe(4000);
  });

  it.each(['unix:///var/run/docker.sock', 'tcp://127.0.0.1:2375', 'ssh://me@engine'])('accepts DOCKER_HOST=%s', (host) => {
    expect(readSettings({ DOCKER_HOST: host }).dockerHost).toBe(host);
  });

  it.each(['http://engine:2375', '/var/run/docker.sock', 'unix://'])('rejects DOCKER_HOST=%s', (host) => {
    expect(() => readSettings({ DOCKER_HOST: host })).toThrow(/^environment variable DOCKER_HOST: expected unix:\/\/\/path, tcp:\/\/host:port/);
  });

  it('treats an empty DOCKER_HOST as unset, as the docker CLI does', () => {
    expect(readSettings({ DOCKER_HOST: '' }).dockerHost).toBeUndefined();
  });

  it.each(['verbose', 'DEBUG'])('rejects LOG_LEVEL=%s, listing the levels', (level) => {
    expect(() => readSettings({ LOG_LEVEL: level })).toThrow(/^environment variable LOG_LEVEL: .*"fatal".*"silent"/);
  });

  it('reports every bad variable, one per line', () => {
    expect(() => readSettings({ PORT: 'x', LOG_LEVEL: 'loud' })).toThrow(/^environment variable PORT: .*\nenvironment variable LOG_LEVEL: /);
  });
});
