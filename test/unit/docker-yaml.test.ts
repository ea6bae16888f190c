import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, type ConfigIssue } from '../../src/config/config-error.ts';
import { parseConfig } from '../../src/config/docker-yaml.ts';
import type { Environment } from '../../src/config/interpolate.ts';

/** One YAML line per argument, so an issue's line is its argument's position + 1. */
const yaml = (...lines: string[]): string => `${lines.join('\n')}\n`;

const parse = (text: string, env: Environment = {}) => parseConfig(text, { file: 'docker.yaml', env });

function configError(text: string, env: Environment = {}): ConfigError {
  try {
    parse(text, env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  return expect.unreachable('expected a ConfigError');
}

const issues = (text: string, env: Environment = {}): readonly ConfigIssue[] => configError(text, env).issues;

const piper = ['  tts:', '    kind: piper', '    image: local/piper:1.2'];

describe('parseConfig errors', () => {
  it('reports an unknown module key at the key, naming the keys it accepts', () => {
    const [issue, ...rest] = issues(yaml('modules:', ...piper, '    restrat: always'));
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ file: 'docker.yaml', line: 5, column: 5, path: 'modules.tts.restrat' });
    expect(issue?.message).toMatch(/unknown key/);
    expect(issue?.message).toMatch(/kind.*image.*autostart.*envs.*ports.*restart.*resources.*command.*entrypoint.*user.*workdir/);
  });

  it('reports an unknown key in a port mapping, naming in, out, protocol and host', () => {
    const [issue, ...rest] = issues(yaml('modules:', ...piper, '    ports:', '      http: { in: 5000, hostPort: 15000 }'));
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ line: 6, column: 25, path: 'modules.tts.ports.http.hostPort' });
    expect(issue?.message).toMatch(/unknown key/);
    expect(issue?.message).toMatch(/\bin\b.*\bout\b.*\bprotocol\b.*\bhost\b/);
  });

  it('reports a module declared twice at its second declaration', () => {
    const text = yaml('modules:', ...piper, '  tts:', '    kind: other', '    image: local/other:1');
    expect(issues(text)).toEqual([
      {
        file: 'docker.yaml',
        line: 5,
        column: 3,
        path: 'modules.tts',
        message: expect.stringMatching(/duplicate module "tts".*2:3/),
      },
    ]);
  });

  // Module names exclude '_', so the container name `<module>_<kind>` splits back into one
  // module at its first '_': two modules can never claim the same container name.
  it.each(['my_tts', 'TTS'])('rejects the module name %s at its key', (name) => {
    expect(issues(yaml('modules:', `  ${name}:`, '    kind: piper', '    image: local/piper:1.2'))).toEqual([
      {
        file: 'docker.yaml',
        line: 2,
        column: 3,
        path: `modules.${name}`,
        message: expect.stringContaining('lowercase letters, digits and "-"'),
      },
    ]);
  });

  it.each(['piper-berth-previous', 'piper-berth-previous-stopped'])('rejects the kind %s, a name berth gives containers set aside during an update', (kind) => {
    expect(issues(yaml('modules:', '  tts:', `    kind: ${kind}`, '    image: local/piper:1.2'))).toEqual([
      {
        file: 'docker.yaml',
        line: 3,
        column: 11,
        path: 'modules.tts.kind',
        message: expect.stringContaining('cannot end in "-berth-previous"'),
      },
    ]);
  });

  it('reports a host port and protocol published twice, across modules', () => {
    const text = yaml(
      'modules:',
      '  a:',
      '    kind: x',
      '    image: local/a:1',
      '    ports:',
      '      http: 8080',
      '  b:',
      '    kind: y',
      '    image: local/b:1',
      '    ports:',
      '      web: { in: 80, out: 8080 }',
    );
    expect(issues(text)).toEqual([
      {
        file: 'docker.yaml',
        line: 11,
        column: 12,
        path: 'modules.b.ports.web',
        message: 'host port 8080/tcp is already published by modules.a.ports.http',
      },
    ]);
  });

  it('allows one host port number under different protocols', () => {
    const text = yaml(
      'modules:',
      '  a:',
      '    kind: x',
      '    image: local/a:1',
      '    ports:',
      '      dns: { in: 53, protocol: udp }',
      '  b:',
      '    kind: y',
      '    image: local/b:1',
      '    ports:',
      '      dns: 53',
    );
    const ports = parse(text).modules.flatMap((module) => module.ports.map((port) => `${module.name}:${port.out}/${port.protocol}`));
    expect(ports).toEqual(['a:53/udp', 'b:53/tcp']);
  });

  it('rejects ports outside 1-65535 and fractional ports', () => {
    const text = yaml(
      'modules:',
      ...piper,
      '    ports:',
      '      zero: 0',
      '      big: { in: 80, out: 70000 }',
      '      frac: 1.5',
    );
    expect(issues(text)).toEqual([
      { file: 'docker.yaml', line: 6, column: 13, path: 'modules.tts.ports.zero', message: expect.stringMatching(/expected a port number from 1 to 65535, got 0$/) },
      { file: 'docker.yaml', line: 7, column: 27, path: 'modules.tts.ports.big.out', message: expect.stringMatching(/expected a port number from 1 to 65535, got 70000$/) },
      { file: 'docker.yaml', line: 8, column: 13, path: 'modules.tts.ports.frac', message: expect.stringMatching(/whole port number from 1 to 65535, got 1\.5$/) },
    ]);
  });

  it('rejects an unknown protocol at its value', () => {
    expect(issues(yaml('modules:', ...piper, '    ports:', '      http: { in: 80, protocol: http }'))).toEqual([
      {
        file: 'docker.yaml',
        line: 6,
        column: 33,
        path: 'modules.tts.ports.http.protocol',
        message: expect.stringContaining('tcp, udp, sctp'),
      },
    ]);
  });

  it('rejects an unset ${VAR} without default at its value', () => {
    expect(issues(yaml('modules:', ...piper, '    envs:', '      API_KEY: ${TTS_API_KEY}'))).toEqual([
      {
        file: 'docker.yaml',
        line: 6,
        column: 16,
        path: 'modules.tts.envs.API_KEY',
        message: expect.stringMatching(/TTS_API_KEY is not set and has no default/),
      },
    ]);
  });

  it('reports a YAML syntax error alone, at the offending character', () => {
    expect(issues(yaml('modules:', ...piper, '    ports: { http: 1 }}'))).toEqual([
      { file: 'docker.yaml', line: 5, column: 23, path: '', message: expect.stringContaining('Unexpected flow-map-end') },
    ]);
  });

  it('reports an alias without anchor as a ConfigError', () => {
    const error = configError(yaml('modules:', '  tts:', '    kind: *nope', '    image: local/piper:1.2'));
    expect(error.issues[0]).toMatchObject({ file: 'docker.yaml', line: 3, column: 11 });
  });

  it('reports a missing image at the module', () => {
    expect(issues(yaml('modules:', '  tts:', '    kind: piper'))).toEqual([
      {
        file: 'docker.yaml',
        line: 3,
        column: 5,
        path: 'modules.tts.image',
        message: expect.stringMatching(/expected an image reference.*got nothing/),
      },
    ]);
  });

  it.each(['Local/piper:1.2', 'local/Piper', 'registry.example:5000/Team/app:v1'])('rejects the uppercase repository of %s, which the engine cannot read', (image) => {
    expect(issues(yaml('modules:', '  tts:', '    kind: piper', `    image: ${image}`))).toEqual([
      { file: 'docker.yaml', line: 4, column: 12, path: 'modules.tts.image', message: expect.stringContaining('expected a repository name in lowercase') },
    ]);
  });

  it.each(['local/piper:V1.2', 'Registry.Example:5000/team/app:Latest', 'localhost:5000/app', 'app@sha256:' + 'a'.repeat(64)])('accepts %s: capitals only in the host or tag', (image) => {
    expect(parse(yaml('modules:', '  tts:', '    kind: piper', `    image: ${image}`)).modules[0]?.image).toBe(image);
  });

  describe('ports.<p>.host', () => {
    const ports = (...lines: string[]) => ['modules:', ...piper, '    ports:', ...lines, '  web:', '    kind: http', '    image: local/web:1', '    ports:'];

    it('publishes on one address, and lets two addresses share a host port', () => {
      const config = parse(yaml(...ports('      http: { in: 5000, out: 8080, host: 127.0.0.1 }'), '      http: { in: 80, out: 8080, host: "::1" }'));
      expect(config.modules.map((module) => module.ports[0]!.host)).toEqual(['127.0.0.1', '::1']);
    });

    it.each([
      ['the same address', '127.0.0.1', '127.0.0.1'],
      ['every address and one', undefined, '127.0.0.1'],
      ['one address and every one', '127.0.0.1', undefined],
      ['0.0.0.0, which is every address, and one', '0.0.0.0', '127.0.0.1'],
      ['one address and ::, every address', '"::1"', '"::"'],
    ])('refuses a host port published twice on %s', (_, first, second) => {
      const at = (host: string | undefined) => (host ? `, host: ${host}` : '');
      const found = issues(yaml(...ports(`      http: { in: 5000, out: 8080${at(first)} }`), `      http: { in: 80, out: 8080${at(second)} }`));
      expect(found).toEqual([expect.objectContaining({ path: 'modules.web.ports.http', message: 'host port 8080/tcp is already published by modules.tts.ports.http' })]);
    });

    it('refuses a host that is not an IP address, at its position', () => {
      expect(issues(yaml('modules:', ...piper, '    ports:', '      http: { in: 5000, host: localhost }'))).toEqual([
        { file: 'docker.yaml', line: 6, column: 31, path: 'modules.tts.ports.http.host', message: expect.stringContaining('expected a host IP address') },
      ]);
    });
  });

  describe('workload keys', () => {
    const spec = (...lines: string[]) => parse(yaml('modules:', ...piper, ...lines)).modules[0]!;

    it('reads restart, resources, command, entrypoint, user and workdir', () => {
      expect(
        spec(
          '    restart: on-failure:3',
          '    resources: { cpus: 0.5, memory: 256m }',
          `    command: serve --voice "en US" --port 5000`,
          '    entrypoint: ["/entry.sh"]',
          '    user: "999:999"',
          '    workdir: /srv/piper',
        ),
      ).toMatchObject({
        restart: { name: 'on-failure', maximumRetryCount: 3 },
        resources: { nanoCpus: 500_000_000, memoryBytes: 256 * 1024 ** 2 },
        command: ['serve', '--voice', 'en US', '--port', '5000'],
        entrypoint: ['/entry.sh'],
        user: '999:999',
        workdir: '/srv/piper',
      });
    });

    it('takes a user id written as a number', () => {
      expect(spec('    user: 999').user).toBe('999');
    });

    it('leaves every key unset when docker.yaml does not name it', () => {
      expect(spec()).toMatchObject({ restart: undefined, resources: undefined, command: undefined, entrypoint: undefined, user: undefined, workdir: undefined });
      expect(spec('    restart: always', '    resources: { memory: 1g }')).toMatchObject({ restart: { name: 'always', maximumRetryCount: 0 }, resources: { memoryBytes: 1024 ** 3 } });
    });

    it.each([
      ['    restart: sometimes', 5, 14, 'modules.tts.restart', 'expected no, always, unless-stopped, on-failure or on-failure:N'],
      ['    restart: on-failure:0', 5, 14, 'modules.tts.restart', 'on-failure:N'],
      ['    resources: { cpus: 0 }', 5, 24, 'modules.tts.resources.cpus', 'expected at least 0.01 CPUs'],
      ['    resources: { memory: 4m }', 5, 26, 'modules.tts.resources.memory', "expected at least 6m, the engine's smallest memory limit"],
      ['    resources: { memory: lots }', 5, 26, 'modules.tts.resources.memory', 'expected a memory size such as 256m'],
      ['    resources: { disk: 1g }', 5, 18, 'modules.tts.resources.disk', 'unknown key "disk"; expected one of cpus, memory'],
      ['    command: serve | tee log', 5, 14, 'modules.tts.command', 'needs ["sh", "-c", "…"]'],
      ['    command: []', 5, 14, 'modules.tts.command', 'expected at least one word'],
      ['    command: { run: serve }', 5, 14, 'modules.tts.command', 'expected a list of words or a command string'],
      ['    user: "root; rm"', 5, 11, 'modules.tts.user', 'expected a user name or id'],
      ['    workdir: srv', 5, 14, 'modules.tts.workdir', 'expected an absolute path'],
    ])('refuses %s at its position', (line, row, column, path, message) => {
      expect(issues(yaml('modules:', ...piper, line))).toEqual([{ file: 'docker.yaml', line: row, column, path, message: expect.stringContaining(message) }]);
    });

    it('reads volumes, networks and a healthcheck, in the engine names of the project', () => {
      const config = parse(
        yaml(
          'project: shop',
          'volumes: { models: {} }',
          'networks:',
          '  backend:',
          'modules:',
          ...piper,
          '    volumes: ["models:/models:ro", "./conf/tts:/etc/tts", "/srv/cache:/cache:rw"]',
          '    networks: [backend]',
          '    healthcheck: { test: "nc -z localhost 5000", interval: 1m30s, timeout: 500ms, retries: 3, startPeriod: 2s }',
        ),
      );
      expect(config).toMatchObject({ volumes: ['shop_models'], networks: ['shop_default', 'shop_backend'] });
      expect(config.modules[0]).toMatchObject({
        volumes: [
          { entry: 'models:/models:ro', type: 'volume', source: 'shop_models', target: '/models', readOnly: true },
          { entry: './conf/tts:/etc/tts', type: 'bind', source: resolve('conf/tts'), target: '/etc/tts', readOnly: false },
          { entry: '/srv/cache:/cache:rw', type: 'bind', source: '/srv/cache', target: '/cache', readOnly: false },
        ],
        networks: ['shop_default', 'shop_backend'],
        healthcheck: { test: ['CMD-SHELL', 'nc -z localhost 5000'], intervalNs: 90e9, timeoutNs: 500e6, retries: 3, startPeriodNs: 2e9 },
      });
    });

    it('resolves a relative bind source against the folder of docker.yaml, not the working folder', () => {
      const config = parseConfig(yaml('modules:', ...piper, '    volumes: ["../models:/models"]'), { file: '/etc/berth/docker.yaml', env: {} });
      expect(config.modules[0]!.volumes[0]!.source).toBe('/etc/models');
    });

    it('reads dependsOn, which names modules and their condition', () => {
      const config = parse(
        yaml(
          'modules:',
          '  db: { kind: postgres, image: local/pg:16, healthcheck: { test: [CMD, pg_isready] } }',
          '  migrate: { kind: job, image: local/app:1, dependsOn: { db: healthy } }',
          '  web: { kind: http, image: local/app:1, dependsOn: { db: started, migrate: completed } }',
        ),
      );
      expect(config.modules.map((module) => module.dependsOn)).toEqual([
        [],
        [{ module: 'db', condition: 'healthy' }],
        [
          { module: 'db', condition: 'started' },
          { module: 'migrate', condition: 'completed' },
        ],
      ]);
    });

    it.each([
      ['    volumes: ["models"]', 5, 15, 'modules.tts.volumes.0', 'expected source:target or source:target:mode'],
      ['    volumes: ["data:relative"]', 5, 15, 'modules.tts.volumes.0', 'expected an absolute path inside the container, got "relative"'],
      ['    volumes: ["./x:/x:rx"]', 5, 15, 'modules.tts.volumes.0', 'expected the mode ro or rw, got "rx"'],
      ['    volumes: ["~/x:/x"]', 5, 15, 'modules.tts.volumes.0', 'expected a volume name declared under volumes, or a path'],
      ['    volumes: ["models:/models"]', 5, 15, 'modules.tts.volumes.0', 'volume "models" is not declared under the top-level volumes'],
      ['    volumes: /data', 5, 14, 'modules.tts.volumes', 'expected a list of volume entries'],
      ['    networks: [backend]', 5, 16, 'modules.tts.networks.0', 'network "backend" is not declared under the top-level networks'],
      ['    healthcheck: { test: [pg_isready] }', 5, 26, 'modules.tts.healthcheck.test', 'expected ["CMD", "program", …], ["CMD-SHELL", "command"] or ["NONE"]'],
      ['    healthcheck: { test: true, interval: 5s }', 5, 26, 'modules.tts.healthcheck.test', 'expected ["CMD", …], ["CMD-SHELL", "…"] or a command string'],
      ['    healthcheck: { test: "true", interval: 5 }', 5, 44, 'modules.tts.healthcheck.interval', 'expected a duration such as 5s, 500ms or 1m30s, got 5'],
      ['    healthcheck: { test: "true", timeout: 5sec }', 5, 43, 'modules.tts.healthcheck.timeout', 'expected a duration such as 5s, 500ms or 1m30s, got "5sec"'],
      ['    healthcheck: { test: "true", interval: 10us }', 5, 44, 'modules.tts.healthcheck.interval', 'expected at least 1ms, got 10us'],
      ['    healthcheck: { test: "true", retries: 0 }', 5, 43, 'modules.tts.healthcheck.retries', 'expected a whole number of retries from 1'],
      ['    healthcheck: { test: "true", every: 5s }', 5, 34, 'modules.tts.healthcheck.every', 'unknown key "every"; expected one of test, interval, timeout, retries, startPeriod'],
      ['    dependsOn: { db: ready }', 5, 22, 'modules.tts.dependsOn.db', 'expected one of started, healthy, completed'],
      ['    dependsOn: { db: started }', 5, 22, 'modules.tts.dependsOn.db', 'unknown module "db"'],
      ['    dependsOn: [db]', 5, 16, 'modules.tts.dependsOn', 'expected a mapping of module names to started, healthy or completed'],
      ['    dependsOn: { constructor: started }', 5, 31, 'modules.tts.dependsOn.constructor', 'unknown module "constructor"'],
      ['    volumes: ["constructor:/data"]', 5, 15, 'modules.tts.volumes.0', 'volume "constructor" is not declared'],
      ['    volumes: ["/srv:/d", "./x:/d:ro"]', 5, 26, 'modules.tts.volumes.1', '/d is already mounted by volumes.0 ("/srv:/d")'],
      ['    networks: [constructor]', 5, 16, 'modules.tts.networks.0', 'network "constructor" is not declared'],
      ['    resources: { cpus: 0.000001 }', 5, 24, 'modules.tts.resources.cpus', 'expected at least 0.01 CPUs'],
    ])('refuses %s at its position', (line, row, column, path, message) => {
      expect(issues(yaml('modules:', ...piper, line))).toEqual([{ file: 'docker.yaml', line: row, column, path, message: expect.stringContaining(message) }]);
    });

    it('refuses a dependsOn cycle, naming it', () => {
      const text = yaml(
        'modules:',
        '  a: { kind: x, image: local/x:1, dependsOn: { b: started } }',
        '  b: { kind: x, image: local/x:1, dependsOn: { c: completed } }',
        '  c: { kind: x, image: local/x:1, dependsOn: { a: started } }',
        '  d: { kind: x, image: local/x:1, dependsOn: { d: started } }',
      );
      expect(issues(text)).toEqual([
        { file: 'docker.yaml', line: 2, column: 51, path: 'modules.a.dependsOn.b', message: 'dependsOn cycle: a → b → c → a' },
        { file: 'docker.yaml', line: 5, column: 51, path: 'modules.d.dependsOn.d', message: 'dependsOn cycle: d → d' },
      ]);
    });

    it('refuses healthy on a module without a healthcheck, and a top-level network named default', () => {
      const text = yaml(
        'networks: { default: {} }',
        'modules:',
        '  db: { kind: x, image: local/x:1, healthcheck: { test: [NONE] } }',
        '  web: { kind: x, image: local/x:1, dependsOn: { db: healthy } }',
        '  volumes: { kind: x, image: local/x:1 }',
      );
      expect(issues(text)).toEqual([
        { file: 'docker.yaml', line: 1, column: 22, path: 'networks.default', message: expect.stringContaining('the network "default" is berth\'s own') },
        { file: 'docker.yaml', line: 4, column: 54, path: 'modules.web.dependsOn.db', message: expect.stringContaining('"db" has no healthcheck, so it can never be healthy') },
      ]);
    });

    it('refuses options on a top-level volume, which takes none yet', () => {
      expect(issues(yaml('volumes: { data: { driver: nfs } }', 'modules:', ...piper))).toEqual([
        { file: 'docker.yaml', line: 1, column: 20, path: 'volumes.data.driver', message: 'unknown key "driver"; this mapping takes no keys' },
      ]);
    });
  });

  it.each([
    ['an empty file', ''],
    ['a file of comments', '# nothing yet\n'],
  ])('rejects %s, expecting a mapping with modules', (_, text) => {
    expect(issues(text)).toEqual([
      { file: 'docker.yaml', line: 1, column: 1, path: '', message: expect.stringContaining('expected a mapping with "modules"') },
    ]);
  });

  it('rejects an env value that is a list', () => {
    expect(issues(yaml('modules:', ...piper, '    envs:', '      VOICES: [a, b]'))).toEqual([
      {
        file: 'docker.yaml',
        line: 6,
        column: 15,
        path: 'modules.tts.envs.VOICES',
        message: 'expected a scalar value (string, number or boolean), got a list',
      },
    ]);
  });

  it('reports every problem of a file, sorted by line, one `file:line:col path: message` line each', () => {
    const text = yaml(
      'modules:',
      '  b:',
      '    kind: y',
      '    image: local/b:1',
      '    envs:',
      '      KEY: ${NOPE}',
      '  a:',
      '    kind: x',
      '    bogus: 1',
      '    ports:',
      '      http: 0',
      '    kind: w',
    );
    const error = configError(text);
    expect(error.issues.map(({ line, column, path }) => `${line}:${column} ${path}`)).toEqual([
      '6:12 modules.b.envs.KEY',
      '8:5 modules.a.image',
      '9:5 modules.a.bogus',
      '11:13 modules.a.ports.http',
      '12:5 modules.a.kind',
    ]);
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^docker\.yaml:6:12 modules\.b\.envs\.KEY: environment variable NOPE is not set/);
    expect(lines[4]).toMatch(/^docker\.yaml:12:5 modules\.a\.kind: duplicate key "kind"/);
  });
});

describe('registries', () => {
  const hostKey = '"127.0.0.1:5000":';

  it('reads credentials by registry host, from ${VAR}, as secrets; a password is a secret even spelled out', () => {
    const text = yaml('registries:', `  ${hostKey}`, '    username: ${REG_USER}', '    password: ${REG_PASSWORD}', '  Registry.Example.com:', '    username: ci', '    password: literal-pw', 'modules:', ...piper);
    const config = parse(text, { REG_USER: 'puller', REG_PASSWORD: 'pa55-word' });
    expect(config.registries).toEqual({ '127.0.0.1:5000': { username: 'puller', password: 'pa55-word' }, 'registry.example.com': { username: 'ci', password: 'literal-pw' } });
    expect(config.secrets).toEqual(['puller', 'pa55-word', 'literal-pw']);
  });

  it('keys Docker Hub as docker.io, whichever way docker.yaml names it, and takes a password written as a number', () => {
    const config = parse(yaml('registries:', '  index.docker.io: { username: me, password: 123456 }', 'modules:', ...piper));
    expect(config.registries).toEqual({ 'docker.io': { username: 'me', password: '123456' } });
    expect(config.secrets).toEqual(['123456']);
  });

  it('never quotes what is given for a registry or under envs, only its type: it may be a credential', () => {
    expect(issues(yaml('registries:', '  registry.example.com: "bob:hunter2"', 'modules:', ...piper))).toMatchObject([
      { path: 'registries.registry.example.com', message: 'expected a mapping { username, password }, got a string' },
    ]);
    expect(issues(yaml('registries: "bob:hunter2"', 'modules:', ...piper))).toMatchObject([{ message: 'expected a mapping of registry hosts to { username, password }, got a string' }]);
    expect(issues(yaml('registries:', '  registry.example.com: { username: bob, password: [hunter2] }', 'modules:', ...piper))).toMatchObject([
      { message: 'expected a string, such as "${REGISTRY_PASSWORD}", got a list' },
    ]);
    expect(issues(yaml('modules:', ...piper, '    envs: "API_TOKEN=hunter2"'))).toMatchObject([{ path: 'modules.tts.envs', message: 'expected a mapping of NAME: value, got a string' }]);
    expect(issues(yaml('modules:', ...piper, '    envs: ${TTS_ENV}'), { TTS_ENV: 'API_TOKEN=hunter2' }).map((issue) => issue.message).join('\n')).not.toMatch(/hunter2/);
  });

  it('reports an unknown key, a missing password and an unset variable at their places', () => {
    const text = yaml('registries:', `  ${hostKey}`, '    username: ${NOPE}', '    passwd: x', 'modules:', ...piper);
    expect(issues(text)).toEqual([
      { file: 'docker.yaml', line: 3, column: 5, path: 'registries.127.0.0.1:5000.password', message: 'expected a string, such as "${REGISTRY_PASSWORD}", got nothing' },
      { file: 'docker.yaml', line: 3, column: 15, path: 'registries.127.0.0.1:5000.username', message: expect.stringContaining('environment variable NOPE is not set') },
      { file: 'docker.yaml', line: 4, column: 5, path: 'registries.127.0.0.1:5000.passwd', message: 'unknown key "passwd"; expected one of username, password' },
    ]);
  });

  it('refuses a key that image references would not read as a registry host, and an empty value', () => {
    expect(issues(yaml('registries:', '  myregistry: { username: a, password: b }', '  "https://x.io": { username: a, password: b }', '  x.io: { username: "", password: b }', 'modules:', ...piper))).toEqual([
      { file: 'docker.yaml', line: 2, column: 3, path: 'registries.myregistry', message: expect.stringContaining('expected a host with a "." or a port, or localhost') },
      { file: 'docker.yaml', line: 3, column: 3, path: 'registries.https://x.io', message: expect.stringContaining('expected a registry host as image references name it') },
      { file: 'docker.yaml', line: 4, column: 21, path: 'registries.x.io.username', message: 'expected a value that is not empty' },
    ]);
  });
});

describe('deploy', () => {
  const deploy = (...lines: string[]) => yaml('modules:', ...piper, '    deploy:', ...lines.map((line) => `      ${line}`));

  it('reads replicas, placement and the rolling update, durations in nanoseconds and constraints without spaces', () => {
    const text = deploy(
      'replicas: 3',
      'placement: ["node.role == worker", "node.labels.gpu!=none"]',
      'update: { parallelism: 2, delay: 10s, order: start-first, monitor: 1m, failureAction: pause, maxFailureRatio: 0.5 }',
    );
    expect(parse(text).modules[0]?.deploy).toEqual({
      replicas: 3,
      placement: ['node.role==worker', 'node.labels.gpu!=none'],
      update: { parallelism: 2, delayNs: 10e9, order: 'start-first', monitorNs: 60e9, failureAction: 'pause', maxFailureRatio: 0.5 },
    });
  });

  it('defaults to one replica anywhere, updated one task at a time, stop-first, rolled back on failure', () => {
    expect(parse(deploy('replicas: 1')).modules[0]?.deploy).toEqual({
      replicas: 1,
      placement: [],
      update: { parallelism: 1, delayNs: 0, order: 'stop-first', monitorNs: undefined, failureAction: 'rollback', maxFailureRatio: 0 },
    });
    expect(parse(yaml('modules:', ...piper, '    deploy: {}')).modules[0]?.deploy?.replicas).toBe(1);
  });

  it('leaves a module without deploy a plain container', () => {
    expect(parse(yaml('modules:', ...piper)).modules[0]?.deploy).toBeUndefined();
  });

  it('reports bad replicas, constraints and update keys at their places', () => {
    const text = deploy('replicas: 0', 'placement: ["node.role==boss", "role=worker", 3]', 'update: { parallelism: -1, order: first, failureAction: retry, delay: soon }');
    expect(issues(text).map(({ line, column, path, message }) => ({ line, column, path, message }))).toEqual([
      { line: 6, column: 17, path: 'modules.tts.deploy.replicas', message: expect.stringContaining('expected a whole number of replicas from 1, got 0') },
      { line: 7, column: 19, path: 'modules.tts.deploy.placement.0', message: 'expected node.role to be compared with manager or worker' },
      { line: 7, column: 38, path: 'modules.tts.deploy.placement.1', message: expect.stringContaining('expected a constraint such as "node.role==worker"') },
      { line: 7, column: 53, path: 'modules.tts.deploy.placement.2', message: 'expected a constraint such as "node.role==worker", got 3' },
      { line: 8, column: 30, path: 'modules.tts.deploy.update.parallelism', message: expect.stringContaining('from 0 (all at once), got -1') },
      { line: 8, column: 41, path: 'modules.tts.deploy.update.order', message: 'expected one of stop-first, start-first' },
      { line: 8, column: 63, path: 'modules.tts.deploy.update.failureAction', message: 'expected one of rollback, pause, continue' },
      { line: 8, column: 77, path: 'modules.tts.deploy.update.delay', message: 'expected a duration such as 5s, 500ms or 1m30s, got "soon"' },
    ]);
  });

  it('reports an unknown key under deploy and under update, naming the keys they take', () => {
    const [first, second, ...rest] = issues(deploy('replica: 2', 'update: { parallel: 2 }'));
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ line: 6, column: 7, path: 'modules.tts.deploy.replica', message: expect.stringMatching(/unknown key.*replicas.*placement.*update/) });
    expect(second).toMatchObject({ line: 7, column: 17, path: 'modules.tts.deploy.update.parallel' });
    expect(second?.message).toMatch(/unknown key.*parallelism.*delay.*order.*monitor.*failureAction.*maxFailureRatio/);
  });

  it('refuses a host address on the ports of a Swarm module, which Swarm cannot bind', () => {
    const text = yaml('modules:', ...piper, '    ports:', '      http: { in: 5000, host: 127.0.0.1 }', '    deploy: { replicas: 2 }');
    expect(issues(text)).toEqual([
      { file: 'docker.yaml', line: 6, column: 31, path: 'modules.tts.ports.http.host', message: expect.stringContaining('publishes its ports on every address of its node') },
    ]);
  });
});

describe('parseConfig', () => {
  it('applies defaults and normalises ports and envs', () => {
    const text = yaml(
      'modules:',
      ...piper,
      '    envs:',
      '      VOICE: en_US-lessac',
      '      SAMPLE_RATE: 22050',
      '      STREAM: true',
      '      API_KEY: ${TTS_API_KEY}',
      '      MODEL_DIR: ${MODEL_DIR:-/models}',
      '    ports:',
      '      http: 5000',
      '      metrics: { in: 9100, out: 19100 }',
      '      rtp: { in: 5004, protocol: udp }',
    );
    expect(parse(text, { TTS_API_KEY: 'secret' })).toEqual({
      project: 'berth',
      engines: [{ name: 'local' }],
      modules: [
        {
          name: 'tts',
          kind: 'piper',
          engine: 'local',
          containerName: 'tts_piper',
          image: 'local/piper:1.2',
          autostart: true,
          envs: { VOICE: 'en_US-lessac', SAMPLE_RATE: '22050', STREAM: 'true', API_KEY: 'secret', MODEL_DIR: '/models' },
          ports: [
            { name: 'http', in: 5000, out: 5000, protocol: 'tcp' },
            { name: 'metrics', in: 9100, out: 19100, protocol: 'tcp' },
            { name: 'rtp', in: 5004, out: 5004, protocol: 'udp' },
          ],
          volumes: [],
          networks: ['berth_default'],
          update: 'manual',
          dependsOn: [],
        },
      ],
      volumes: [],
      networks: ['berth_default'],
      registries: {},
      // Interpolated env values are secrets, defaults included; literal values and images are not.
      secrets: ['secret', '/models'],
    });
  });

  it('counts an env value as a secret only when it came from ${VAR}', () => {
    const text = yaml('modules:', ...piper, '    envs:', '      A: $${LITERAL}', '      B: pre-${KEY}-post', '      C: plain');
    expect(parse(text, { KEY: 'k3y!' }).secrets).toEqual(['pre-k3y!-post', 'k3y!']);
    const fallback = yaml('modules:', ...piper, '    envs:', '      DB: postgres://u:${PASS:-hunter2}@db');
    expect(parse(fallback).secrets).toEqual(['postgres://u:hunter2@db', 'hunter2']);
  });

  it('reads project and autostart when given', () => {
    const config = parse(yaml('project: demo', 'modules:', ...piper, '    autostart: false'));
    expect(config.project).toBe('demo');
    expect(config.modules[0]?.autostart).toBe(false);
  });

  it('takes a set variable over the default', () => {
    const config = parse(yaml('modules:', ...piper, '    envs:', '      MODEL_DIR: ${MODEL_DIR:-/models}'), { MODEL_DIR: '/data' });
    expect(config.modules[0]?.envs).toEqual({ MODEL_DIR: '/data' });
  });

  it('interpolates ${VAR} and ${VAR:-default} in the image', () => {
    const text = yaml('modules:', '  tts:', '    kind: piper', '    image: ${REGISTRY:-local}/piper:${TAG}');
    expect(parse(text, { TAG: '1.2' }).modules[0]?.image).toBe('local/piper:1.2');
  });
});
