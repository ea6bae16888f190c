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
    });
  });

  it('reads each variable', () => {
    expect(
      readSettings({ PORT: '8080', HOST: '0.0.0.0', BERTH_CONFIG: '/etc/berth.yaml', DOCKER_HOST: 'tcp://engine:2376', LOG_LEVEL: 'debug' }),
    ).toEqual({ port: 8080, host: '0.0.0.0', configFile: '/etc/berth.yaml', dockerHost: 'tcp://engine:2376', logLevel: 'debug' });
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
