import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import { ConfigError, type ConfigIssue } from './config-error.ts';
import { allowedKeys, dockerYamlSchema, type DockerYaml } from './docker-yaml-schema.ts';
import { interpolate, type Environment } from './interpolate.ts';
import { isDeepStrictEqual } from 'node:util';
import { tlsIssues } from './engine-tls.ts';
import { defaultEngine, type BerthConfig, type Dependency, type DeploySpec, type EngineSpec, type HealthcheckSpec, type ModuleSpec, type PortSpec, type RestartPolicy, type VolumeMount } from './module-spec.ts';
import { engineOf, referenceIssues } from './module-references.ts';
import { splitRegistry } from '../engine/image-reference.ts';
import { Locator, type Path } from '../lib/yaml-positions.ts';

/** Reads and validates a docker.yaml; throws a ConfigError that lists every problem in it. */
export async function loadConfig(file: string, env: Environment): Promise<BerthConfig> {
  return (await readConfig(file, env)).config;
}

/** A docker.yaml as read: its configuration, and the digest of the file (as `sha256sum` prints it, with `sha256:`). */
export interface ReadConfig {
  config: BerthConfig;
  digest: string;
}

/**
 * Reads and validates a docker.yaml; throws a ConfigError that lists every problem in it, with the digest of
 * the text it read (`digest`, for the audit of a rejected reload). `project`: the project it must keep.
 */
export async function readConfig(file: string, env: Environment, options: ParseOptions = {}): Promise<ReadConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: `cannot read the configuration: ${reason}` }]);
  }
  const digest = textDigest(text);
  try {
    return { config: parseConfig(text, { file, env, ...options }), digest };
  } catch (error) {
    if (error instanceof ConfigError) error.digest = digest;
    throw error;
  }
}

export function textDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

export interface ParseOptions {
  /** The project the file must name: berth's containers carry it, and a running berth cannot change it. */
  project?: string;
  /** The engines the file must declare: a running berth follows them, and changes them only at a restart. */
  engines?: readonly EngineSpec[];
  /** When the engines' TLS certificates must be valid; default now. */
  now?: Date;
  /** Whether each module in force runs as a Swarm service (has deploy:): a reload cannot switch one between the two forms. */
  deployed?: ReadonlyMap<string, boolean>;
}

export function parseConfig(text: string, { file, env, project, engines, now, deployed }: { file: string; env: Environment } & ParseOptions): BerthConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const located = new Locator(file, doc, lineCounter, allowedKeys);

  const syntaxIssues = doc.errors.map((error) => located.at(error.pos[0], [], error.message.split('\n')[0] ?? error.message));
  if (syntaxIssues.length > 0) throw new ConfigError(syntaxIssues);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError([aliasIssue(doc, located) ?? located.at(0, [], (error as Error).message)]);
  }
  const issues = duplicateKeys(doc.contents, [], located);
  const interpolationPaths = new Set<string>();
  const secrets = new Set<string>();
  for (const [path, value, set] of interpolated(raw)) {
    const result = interpolate(value, env);
    if (result.ok) {
      set(result.value);
      if ((path[2] === 'envs' || path[0] === 'registries') && result.variables.length > 0) {
        // The whole value, and each variable's own value: a message may quote either.
        for (const secret of [result.value, ...result.variables.map((name) => env[name] ?? ''), ...defaults(value)]) if (secret !== '') secrets.add(secret);
      }
    } else {
      issues.push(located.path(path, result.message));
      interpolationPaths.add(path.join('.'));
    }
  }
  const parsed = dockerYamlSchema.safeParse(raw);
  if (!parsed.success) {
    const schemaIssues = parsed.error.issues.filter((issue) => !interpolationPaths.has(issue.path.join('.')));
    issues.push(...schemaIssues.flatMap((issue) => located.zodIssue(issue)));
  }
  if (issues.length > 0 || !parsed.success) throw new ConfigError(issues);
  issues.push(...referenceIssues(parsed.data, located));
  if (issues.length > 0) throw new ConfigError(issues);

  const config = toBerthConfig(parsed.data, [...secrets], dirname(resolve(file)));
  issues.push(...hostPortClashes(config, located), ...tlsIssues(config, located, now));
  if (project !== undefined && config.project !== project) issues.push(located.path(['project'], projectFixed(project, config.project)));
  if (engines !== undefined) issues.push(...engineChanges(engines, config.engines, located));
  if (deployed !== undefined) issues.push(...formChanges(deployed, config.modules, located));
  if (issues.length > 0) throw new ConfigError(issues);
  return config;
}

function projectFixed(running: string, wanted: string): string {
  return `expected "${running}": berth runs project "${running}", whose containers carry its name, and cannot change it to "${wanted}" while running (every container would be orphaned); restart berth to change the project`;
}

/**
 * Each engine a reload adds, removes or readdresses, at its place: berth connects to its engines at start.
 * Their order in the file is no change.
 */
function engineChanges(running: readonly EngineSpec[], wanted: readonly EngineSpec[], located: Locator): ConfigIssue[] {
  const restart = 'berth connects to its engines at start, so this needs a restart; modules can move between the engines it has';
  const issues = wanted.flatMap((engine) => {
    const before = running.find(({ name }) => name === engine.name);
    if (!before) return [located.path(['engines', engine.name], `engine "${engine.name}" is not one berth runs with (${running.map(({ name }) => name).join(', ')}): ${restart}`)];
    return isDeepStrictEqual(before, engine) ? [] : [located.path(['engines', engine.name], `engine "${engine.name}" changed its host or tls: ${restart}`)];
  });
  const removed = running.filter(({ name }) => !wanted.some((engine) => engine.name === name));
  return [...issues, ...removed.map(({ name }) => located.path(['engines'], `engine "${name}" is gone from engines, but berth runs with it: ${restart}`))];
}

/**
 * A module a reload turns from a container into a Swarm service, or back: the old form would stay running,
 * unseen (the module is read in its new form). Removed in one reload and added in the next, it is retired first.
 */
function formChanges(deployed: ReadonlyMap<string, boolean>, modules: readonly ModuleSpec[], located: Locator): ConfigIssue[] {
  return modules.flatMap((module) => {
    const before = deployed.get(module.name);
    const now = module.deploy !== undefined;
    if (before === undefined || before === now) return [];
    const [from, to] = now ? ['a container', 'a Swarm service (deploy:)'] : ['a Swarm service', 'a container (no deploy:)'];
    return [located.path(now ? ['modules', module.name, 'deploy'] : ['modules', module.name], `module "${module.name}" runs as ${from}: a reload cannot make it ${to}; remove the module in one reload and add it back in the next, which retires its ${from.replace(/^an? /, '')} first`)];
  });
}

/** The default texts of `${VAR:-default}` and `${VAR-default}`: a secret may be written there too. */
function defaults(text: string): string[] {
  return [...text.replaceAll('$$', '').matchAll(/\$\{[A-Za-z_]\w*:?-([^}]*)\}/g)].map((match) => match[1] ?? '');
}

/** The values that take `${VAR}`, each module's image and env values and the registry credentials, with a setter for the expansion. */
function* interpolated(raw: unknown): Generator<[Path, string, (value: string) => void]> {
  yield* interpolatedCredentials(raw);
  const modules = (raw as { modules?: unknown } | null)?.modules;
  if (!modules || typeof modules !== 'object') return;
  for (const [name, module] of Object.entries(modules)) {
    if (!module || typeof module !== 'object') continue;
    const holder = module as { image?: unknown; envs?: unknown };
    if (typeof holder.image === 'string') yield [['modules', name, 'image'], holder.image, (value) => (holder.image = value)];
    const envs = holder.envs;
    if (!envs || typeof envs !== 'object') continue;
    for (const [key, value] of Object.entries(envs)) {
      if (typeof value === 'string') yield [['modules', name, 'envs', key], value, (expanded) => ((envs as Record<string, unknown>)[key] = expanded)];
    }
  }
}

function* interpolatedCredentials(raw: unknown): Generator<[Path, string, (value: string) => void]> {
  const registries = (raw as { registries?: unknown } | null)?.registries;
  if (!registries || typeof registries !== 'object') return;
  for (const [host, credentials] of Object.entries(registries)) {
    if (!credentials || typeof credentials !== 'object') continue;
    const holder = credentials as Record<string, unknown>;
    for (const key of ['username', 'password']) {
      const value = holder[key];
      if (typeof value === 'string') yield [['registries', host, key], value, (expanded) => (holder[key] = expanded)];
    }
  }
}

/** Engine names are the project's: two platforms on one engine keep their volumes and networks apart. */
function toBerthConfig(data: DockerYaml, secrets: string[], folder: string): BerthConfig {
  const scoped = (name: string) => `${data.project}_${name}`;
  const modules = Object.entries(data.modules).map(([name, module]): ModuleSpec => ({
    name,
    kind: module.kind,
    engine: engineOf(module),
    containerName: `${name}_${module.kind}`,
    image: module.image,
    autostart: module.autostart,
    envs: Object.fromEntries(Object.entries(module.envs).map(([key, value]) => [key, String(value)])),
    ports: Object.entries(module.ports).map(([portName, port]): PortSpec => ({
      name: portName,
      in: port.in,
      out: port.out ?? port.in,
      protocol: port.protocol,
      host: port.host,
    })),
    restart: module.restart === undefined ? undefined : restartPolicy(module.restart),
    resources: module.resources && { nanoCpus: module.resources.cpus && Math.round(module.resources.cpus * 1e9), memoryBytes: module.resources.memory },
    command: module.command,
    entrypoint: module.entrypoint,
    user: module.user,
    workdir: module.workdir,
    volumes: module.volumes.map(({ source, ...volume }): VolumeMount => ({ ...volume, source: volume.type === 'bind' ? resolve(folder, source) : scoped(source) })),
    networks: ['default', ...module.networks].map(scoped),
    healthcheck: module.healthcheck && healthcheck(module.healthcheck),
    update: module.update,
    dependsOn: Object.entries(module.dependsOn).map(([dependency, condition]): Dependency => ({ module: dependency, condition })),
    deploy: module.deploy && deploySpec(module.deploy),
  }));
  const volumes = Object.keys(data.volumes).map(scoped);
  const networks = ['default', ...Object.keys(data.networks)].map(scoped);
  // Hosts as pulls look them up: lowercase, index.docker.io as docker.io.
  const registries = Object.fromEntries(Object.entries(data.registries).map(([host, credentials]) => [splitRegistry(`${host}/`).registry, credentials]));
  // A password is a secret even when docker.yaml spells it out.
  const passwords = Object.values(registries).map(({ password }) => password);
  return { project: data.project, engines: engines(data, folder), modules, volumes, networks, registries, secrets: [...new Set([...secrets, ...passwords])] };
}

/** `local` first, declared or not, then the others in the file's order; TLS files as absolute paths. */
function engines(data: DockerYaml, folder: string): EngineSpec[] {
  const declared = Object.entries(data.engines).map(([name, { host, tls }]): EngineSpec => ({
    name,
    host,
    ...(tls && { tls: { ca: resolve(folder, tls.ca), cert: resolve(folder, tls.cert), key: resolve(folder, tls.key) } }),
  }));
  const local = declared.find((engine) => engine.name === defaultEngine) ?? { name: defaultEngine };
  return [local, ...declared.filter((engine) => engine !== local)];
}

function healthcheck({ test, interval, timeout, retries, startPeriod }: NonNullable<DockerYaml['modules'][string]['healthcheck']>): HealthcheckSpec {
  return { test, intervalNs: interval, timeoutNs: timeout, retries, startPeriodNs: startPeriod };
}

function deploySpec({ replicas, placement, update }: NonNullable<DockerYaml['modules'][string]['deploy']>): DeploySpec {
  const { delay = 0, monitor, ...rollout } = update;
  return { replicas, placement: placement.map((constraint) => constraint.replace(/\s+/g, '')), update: { ...rollout, delayNs: delay, monitorNs: monitor } };
}

function restartPolicy(text: string): RestartPolicy {
  const [name, count] = text.split(':');
  return { name: name as RestartPolicy['name'], maximumRetryCount: count ? Number(count) : 0 };
}

function aliasIssue(doc: Document, located: Locator): ConfigIssue | undefined {
  let found: ConfigIssue | undefined;
  visit(doc, {
    Alias(_key, alias) {
      if (alias.resolve(doc) !== undefined) return undefined;
      found = located.at(alias.range?.[0] ?? 0, [], `alias *${alias.source} has no anchor &${alias.source} before it`);
      return visit.BREAK;
    },
  });
  return found;
}

/** Addresses that mean every address of the host: a port published there takes the port on all of them. */
const everyAddress = new Set([undefined, '0.0.0.0', '::']);

/** Two ports of one engine clash on one host port and protocol when they share an address, or either takes them all. */
function hostPortClashes(config: BerthConfig, located: Locator): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, { host: string | undefined; path: string }[]>();
  for (const module of config.modules) {
    for (const port of module.ports) {
      const key = `${module.engine} ${port.out}/${port.protocol}`;
      const here = `modules.${module.name}.ports.${port.name}`;
      const earlier = seen.get(key) ?? [];
      const first = earlier.find(({ host }) => everyAddress.has(host) || everyAddress.has(port.host) || host === port.host);
      if (first) issues.push(located.path(here.split('.'), `host port ${port.out}/${port.protocol} is already published by ${first.path}${module.engine === defaultEngine ? '' : ` on engine "${module.engine}"`}`));
      else seen.set(key, [...earlier, { host: port.host, path: here }]);
    }
  }
  return issues;
}

function duplicateKeys(node: unknown, path: Path, located: Locator): ConfigIssue[] {
  if (isSeq(node)) return node.items.flatMap((item, index) => duplicateKeys(item, [...path, index], located));
  if (!isMap(node)) return [];
  const firstSeen = new Map<unknown, Node>();
  const issues: ConfigIssue[] = [];
  for (const pair of node.items) {
    const key = isScalar(pair.key) ? pair.key.value : pair.key;
    const keyNode = pair.key as Node;
    const first = firstSeen.get(key);
    if (first) {
      const what = path.length === 1 && path[0] === 'modules' ? 'module' : 'key';
      const { line, column } = located.position(first.range?.[0] ?? 0);
      issues.push(located.at(keyNode.range?.[0] ?? 0, [...path, String(key)], `duplicate ${what} "${String(key)}" (first defined at ${line}:${column})`));
      continue;
    }
    firstSeen.set(key, keyNode);
    issues.push(...duplicateKeys(pair.value, [...path, String(key)], located));
  }
  return issues;
}
