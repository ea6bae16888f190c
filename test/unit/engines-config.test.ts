import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue } from '../../src/config/config-error.ts';
import { parseConfig, type ParseOptions } from '../../src/config/docker-yaml.ts';
import Dockerode from 'dockerode';
import { connectionOptions } from '../../src/engine/engine-connection.ts';
import { SshTunnelAgent } from '../../src/engine/ssh-tunnel.ts';

const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

let folder: string;
const parse = (text: string, options: ParseOptions = {}) => parseConfig(text, { file: join(folder, 'docker.yaml'), env: {}, ...options });

function issues(text: string, options: ParseOptions = {}): readonly ConfigIssue[] {
  try {
    parse(text, options);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  return expect.unreachable('expected a ConfigError');
}

/** A CA, a client certificate it signed, and that certificate's key, made with openssl as an operator would. */
function makeCertificates(into: string, { days = 30, name = 'client' } = {}): void {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: into, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '30', '-subj', '/CN=test-ca');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', String(days));
}

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'berth-engines-'));
  makeCertificates(folder);
  makeCertificates(folder, { name: 'other' });
  writeFileSync(join(folder, 'garbage.pem'), 'not a certificate\n');
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const twoEngines = [
  'engines:',
  '  gpu:',
  '    host: tcp://10.0.0.5:2376',
  '    tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client-key.pem }',
  '  edge:',
  '    host: ssh://ops@edge.example.com',
  'modules:',
  '  tts: { kind: piper, image: local/piper:1.2, engine: gpu, ports: { http: 5000 } }',
  '  web: { kind: http, image: local/web:1, ports: { http: 5000 } }',
];

describe('engines in docker.yaml', () => {
  it('reads every engine, local first, with TLS paths from docker.yaml\'s folder; a module runs on local unless it names one', () => {
    const config = parse(yaml(...twoEngines));
    expect(config.engines).toEqual([
      { name: 'local' },
      { name: 'gpu', host: 'tcp://10.0.0.5:2376', tls: { ca: join(folder, 'ca.pem'), cert: join(folder, 'client.pem'), key: join(folder, 'client-key.pem') } },
      { name: 'edge', host: 'ssh://ops@edge.example.com' },
    ]);
    expect(config.modules.map((module) => [module.name, module.engine])).toEqual([['tts', 'gpu'], ['web', 'local']]);
  });

  it('lets local be readdressed, and keeps it first', () => {
    const config = parse(yaml('engines:', '  gpu: { host: unix:///run/gpu.sock }', '  local: { host: unix:///run/other.sock }', 'modules: {}'));
    expect(config.engines.map((engine) => [engine.name, engine.host])).toEqual([['local', 'unix:///run/other.sock'], ['gpu', 'unix:///run/gpu.sock']]);
  });

  it('publishes one host port on two engines, but not twice on one', () => {
    expect(() => parse(yaml(...twoEngines))).not.toThrow();
    const [clash, ...rest] = issues(yaml(...twoEngines, '  api: { kind: http, image: local/api:1, engine: gpu, ports: { http: { in: 80, out: 5000 } } }'));
    expect(rest).toEqual([]);
    expect(clash).toMatchObject({ line: 10, path: 'modules.api.ports.http' });
    expect(clash?.message).toBe('host port 5000/tcp is already published by modules.tts.ports.http on engine "gpu"');
  });

  it('refuses an address docker.yaml cannot take', () => {
    expect(issues(yaml('engines:', '  bad: { host: http://10.0.0.5:2375 }', 'modules: {}')).map(({ line, path, message }) => ({ line, path, message }))).toEqual([
      { line: 2, path: 'engines.bad.host', message: 'expected unix:///path, tcp://host:port or ssh://user@host[:port]' },
    ]);
    // A password (the docker CLI refuses one too), a user connectionOptions could not decode, a port past 65535.
    for (const host of ['ssh://ops:secret@edge', 'ssh://a%zz@edge', 'tcp://edge:99999', 'ssh://edge:70000']) {
      expect(issues(yaml('engines:', `  bad: { host: "${host}" }`, 'modules: {}')).map(({ path }) => path)).toEqual(['engines.bad.host']);
    }
  });

  it('refuses an unknown engine, a dependency on another engine and tls off tcp, each at its place', () => {
    const found = issues(
      yaml(
        'engines:',
        '  edge: { host: ssh://ops@edge, tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client-key.pem } }',
        'modules:',
        '  db: { kind: pg, image: local/pg:1, engine: edge }',
        '  web: { kind: http, image: local/web:1, engine: gpu }',
        '  api: { kind: http, image: local/api:1, dependsOn: { db: started } }',
      ),
    );
    expect(found.map(({ line, path, message }) => ({ line, path, message }))).toEqual([
      { line: 2, path: 'engines.edge.tls', message: 'tls is for tcp:// engines; ssh:// is secured by its own means' },
      { line: 5, path: 'modules.web.engine', message: 'unknown engine "gpu"; declare it under the top-level engines' },
      { line: 6, path: 'modules.api.dependsOn.db', message: '"db" runs on engine "edge" and "api" on "local": a module can depend only on modules of its own engine' },
    ]);
  });

  it('refuses two engines at one address: both would own the same containers, and a module moved between them would be removed', () => {
    const found = issues(yaml('engines:', '  a: { host: unix:///run/docker.sock }', '  b: { host: unix:///run/docker.sock }', 'modules: {}'));
    expect(found.map(({ line, path, message }) => ({ line, path, message }))).toEqual([
      { line: 3, path: 'engines.b.host', message: 'engine "a" has this address already: two names for one engine would both own its containers' },
    ]);
  });

  it('names the keys an engine takes', () => {
    const [issue] = issues(yaml('engines:', '  gpu: { host: tcp://gpu:2376, tlsverify: true }', 'modules: {}'));
    expect(issue).toMatchObject({ path: 'engines.gpu.tlsverify' });
    expect(issue?.message).toMatch(/unknown key.*host.*tls/);
  });

  it('checks the TLS files when docker.yaml is read: missing, not PEM, and a key of another certificate', () => {
    const engine = (tls: string) => yaml('engines:', `  gpu: { host: tcp://gpu:2376, tls: ${tls} }`, 'modules: {}');
    const messages = (text: string) => issues(text).map(({ path, message }) => `${path}: ${message}`);
    expect(messages(engine('{ ca: ./nope.pem, cert: ./garbage.pem, key: ./other-key.pem }'))).toEqual([
      `engines.gpu.tls.ca: cannot read ${join(folder, 'nope.pem')}: file not found`,
      `engines.gpu.tls.cert: ${join(folder, 'garbage.pem')} is not a certificate in PEM form`,
    ]);
    expect(messages(engine('{ ca: ./ca.pem, cert: ./client.pem, key: ./other-key.pem }'))).toEqual([
      `engines.gpu.tls.key: ${join(folder, 'other-key.pem')} is not the private key of the certificate ${join(folder, 'client.pem')}`,
    ]);
  });

  it('refuses an expired client certificate, naming when it expired', () => {
    const expired = mkdtempSync(join(tmpdir(), 'berth-expired-'));
    try {
      makeCertificates(expired, { days: 1 });
      const text = yaml('engines:', '  gpu: { host: tcp://gpu:2376, tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client-key.pem } }', 'modules: {}');
      const inTwoDays = new Date(Date.now() + 2 * 86_400_000);
      // The clock moved rather than the certificate: openssl cannot sign one that has already expired.
      const found = (() => {
        try {
          parseConfig(text, { file: join(expired, 'docker.yaml'), env: {}, now: inTwoDays });
        } catch (error) {
          return (error as ConfigError).issues;
        }
        return [];
      })();
      expect(found.map(({ path, message }) => `${path}: ${message.replace(/expired on .*/, 'expired on …')}`)).toEqual([
        `engines.gpu.tls.cert: the certificate in ${join(expired, 'client.pem')} expired on …`,
      ]);
    } finally {
      rmSync(expired, { recursive: true, force: true });
    }
  });

  it('refuses a reload that changes the engines, and takes one that moves a module between them', () => {
    const running = parse(yaml(...twoEngines)).engines;
    const found = issues(yaml('engines:', '  gpu: { host: tcp://10.0.0.6:2376 }', '  far: { host: tcp://10.0.0.7:2375 }', 'modules: {}'), { engines: running });
    const restart = 'berth connects to its engines at start, so this needs a restart; modules can move between the engines it has';
    expect(found.map(({ line, path, message }) => ({ line, path, message }))).toEqual([
      { line: 2, path: 'engines', message: `engine "edge" is gone from engines, but berth runs with it: ${restart}` },
      { line: 2, path: 'engines.gpu', message: `engine "gpu" changed its host or tls: ${restart}` },
      { line: 3, path: 'engines.far', message: `engine "far" is not one berth runs with (local, gpu, edge): ${restart}` },
    ]);
    const moved = twoEngines.map((line) => line.replace('engine: gpu, ', ''));
    expect(parse(yaml(...moved.slice(0, 8), '  web: { kind: http, image: local/web:1, engine: gpu, ports: { http: 5000 } }'), { engines: running }).modules.map((module) => module.engine)).toEqual(['local', 'gpu']);
  });

  it('takes a reload that only lists the engines in another order', () => {
    const running = parse(yaml(...twoEngines)).engines;
    const reordered = [twoEngines[0]!, ...twoEngines.slice(4, 6), ...twoEngines.slice(1, 4), ...twoEngines.slice(6)];
    expect(() => parse(yaml(...reordered), { engines: running })).not.toThrow();
  });
});

describe('a reload and Swarm modules', () => {
  it('refuses to turn a container module into a Swarm service, or back, naming the way that retires the old form', () => {
    const text = yaml('modules:', '  web:', '    kind: http', '    image: local/web:1', '    deploy: { replicas: 2 }', '  db: { kind: pg, image: local/pg:1 }');
    const found = issues(text, { deployed: new Map([['web', false], ['db', true]]) });
    expect(found.map(({ line, path, message }) => ({ line, path, message }))).toEqual([
      { line: 5, path: 'modules.web.deploy', message: 'module "web" runs as a container: a reload cannot make it a Swarm service (deploy:); remove the module in one reload and add it back in the next, which retires its container first' },
      { line: 6, path: 'modules.db', message: 'module "db" runs as a Swarm service: a reload cannot make it a container (no deploy:); remove the module in one reload and add it back in the next, which retires its Swarm service first' },
    ]);
    expect(() => parse(text, { deployed: new Map([['web', true], ['db', false], ['gone', true]]) })).not.toThrow();
  });
});

describe('connectionOptions', () => {
  it('leaves local without a host to DOCKER_HOST, and reads unix, tcp, tcp with TLS and ssh addresses', () => {
    expect(connectionOptions({ name: 'local' })).toBeUndefined();
    // As the docker CLI reads it: the path as written, '%' and '#' too.
    expect(connectionOptions({ name: 'a', host: 'unix:///run/a%20b#1.sock' })).toMatchObject({ socketPath: '/run/a%20b#1.sock' });
    expect(connectionOptions({ name: 'b', host: 'tcp://[::1]:2375' })).toEqual({ protocol: 'http', host: '::1', port: '2375', ca: undefined, cert: undefined, key: undefined });
    // Over ssh, plain HTTP through one SSH connection's channels (test/integration/ssh-engine.test.ts).
    expect(connectionOptions({ name: 'c', host: 'ssh://ops@edge:2222' }, { SSH_AUTH_SOCK: '/run/agent' })).toEqual({
      protocol: 'http',
      host: 'edge',
      port: 2222,
      ca: undefined,
      cert: undefined,
      key: undefined,
      agent: expect.any(SshTunnelAgent),
    });
    const tls = connectionOptions({ name: 'd', host: 'tcp://gpu:2376', tls: { ca: join(folder, 'ca.pem'), cert: join(folder, 'client.pem'), key: join(folder, 'client-key.pem') } });
    expect(tls).toMatchObject({ protocol: 'https', host: 'gpu', port: '2376' });
    expect(String(tls?.ca)).toContain('BEGIN CERTIFICATE');
  });

  it("reaches an engine as docker.yaml says whatever DOCKER_HOST and DOCKER_CERT_PATH name (dockerode merges the environment's in)", () => {
    const before = { host: process.env.DOCKER_HOST, verify: process.env.DOCKER_TLS_VERIFY, certs: process.env.DOCKER_CERT_PATH };
    process.env.DOCKER_HOST = 'tcp://10.9.9.9:2376';
    process.env.DOCKER_TLS_VERIFY = '1';
    process.env.DOCKER_CERT_PATH = folder;
    writeFileSync(join(folder, 'cert.pem'), readFileSync(join(folder, 'client.pem')));
    writeFileSync(join(folder, 'key.pem'), readFileSync(join(folder, 'client-key.pem')));
    type Modem = { host?: string; socketPath?: string; protocol?: string; ca?: unknown };
    try {
      const modem = (host: string) => new Dockerode(connectionOptions({ name: 'edge', host })).modem as Modem;
      expect(modem('unix:///run/edge.sock')).toMatchObject({ host: undefined, socketPath: '/run/edge.sock', protocol: 'http' });
      expect(modem('tcp://10.0.0.7:2375')).toMatchObject({ host: '10.0.0.7', protocol: 'http', ca: undefined });
    } finally {
      for (const [name, value] of [['DOCKER_HOST', before.host], ['DOCKER_TLS_VERIFY', before.verify], ['DOCKER_CERT_PATH', before.certs]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
