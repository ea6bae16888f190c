import { isIP } from 'node:net';
import { parse as parseShellWords } from 'shell-quote';
import { z } from 'zod';
import { splitRegistry } from '../engine/image-reference.ts';
import { dependencyConditions, portProtocols, rolloutFailureActions, rolloutOrders, updateModes } from './module-spec.ts';

const moduleName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a module name of lowercase letters, digits and "-" (at most 63, starting with a letter or digit)');

const kind = z
  .string({ error: (issue) => `expected a string naming the kind, such as "piper", got ${describe(issue.input)}` })
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'expected a kind of letters, digits, "_", "." and "-", starting with a letter or digit')
  // The container's name would read as one an update set aside (ModuleUpdates), and be undone at the next sync.
  .refine((value) => !/-berth-previous(-stopped)?$/.test(value), 'a kind cannot end in "-berth-previous" or "-berth-previous-stopped": berth gives those names to containers set aside during an update');

const image = z
  .string({ error: (issue) => `expected an image reference, such as "local/piper:1.2", got ${describe(issue.input)}` })
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/i, 'expected an image reference, such as "local/piper:1.2"')
  // The engine refuses an uppercase repository ("invalid reference format"); a registry host and a tag may have it.
  .refine((reference) => !/[A-Z]/.test(repositoryPath(reference)), 'expected a repository name in lowercase (the tag may have capitals), such as "local/piper:1.2"');

/** The reference without its registry host, tag and digest: the part the engine wants in lowercase. */
function repositoryPath(reference: string): string {
  return splitRegistry(reference.split('@')[0]!.replace(/:[^/:]*$/, '')).path;
}

const portNumber = z
  .number({ error: (issue) => `expected a port number from 1 to 65535, got ${describe(issue.input)}` })
  .int({ error: (issue) => `expected a whole port number from 1 to 65535, got ${describe(issue.input)}` })
  .min(1, { error: (issue) => `expected a port number from 1 to 65535, got ${describe(issue.input)}` })
  .max(65535, { error: (issue) => `expected a port number from 1 to 65535, got ${describe(issue.input)}` });

const portShape = {
  in: portNumber,
  out: portNumber.optional(),
  protocol: z.enum(portProtocols, { error: `expected one of ${portProtocols.join(', ')}` }).default('tcp'),
  host: z
    .string({ error: (issue) => `expected a host IP address such as 127.0.0.1, got ${describe(issue.input)}` })
    .refine((address) => isIP(address) !== 0, 'expected a host IP address such as 127.0.0.1 or ::1')
    .optional(),
};

const port = z.preprocess(
  (value) => (typeof value === 'number' ? { in: value } : value),
  z.strictObject(
    portShape,
    { error: (issue) => `expected a port number or a mapping { in, out, protocol }, got ${describe(issue.input)}` },
  ),
);

const portName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a port name of lowercase letters, digits, "_" and "-"');

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name of letters, digits and "_", not starting with a digit');

const envValue = z.union([z.string(), z.number(), z.boolean()], {
  error: (issue) => `expected a scalar value (string, number or boolean), got ${typeOf(issue.input)}`,
});

const restart = z
  .string({ error: (issue) => `expected no, always, unless-stopped, on-failure or on-failure:N, got ${describe(issue.input)}` })
  .regex(/^(no|always|unless-stopped|on-failure(:[1-9]\d{0,5})?)$/, 'expected no, always, unless-stopped, on-failure or on-failure:N');

const memoryUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
/** The engine refuses a memory limit under 6 MiB. */
const smallestMemory = 6 * 1024 ** 2;

const memory = z
  .union([z.number(), z.string()], { error: (issue) => `expected a memory size such as 256m (units b, k, m, g), got ${describe(issue.input)}` })
  .transform((value, context) => {
    const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)$/i.exec(String(value).trim());
    const bytes = match ? Math.floor(Number(match[1]) * memoryUnits[(match[2] || 'b').toLowerCase()]!) : Number.NaN;
    if (bytes >= smallestMemory) return bytes;
    context.addIssue({ code: 'custom', message: match ? `expected at least 6m, the engine's smallest memory limit, got ${value}` : `expected a memory size such as 256m (units b, k, m, g), got ${JSON.stringify(value)}` });
    return z.NEVER;
  });

const resourcesShape = {
  cpus: z
    .number({ error: (issue) => `expected a number of CPUs such as 0.5, got ${describe(issue.input)}` })
    .min(0.01, { error: 'expected at least 0.01 CPUs, such as 0.5' })
    .optional(),
  memory: memory.optional(),
};

/** A list of words, or a string split as a POSIX shell splits it (quotes kept together; no pipes or redirections). */
const commandLine = z
  .union([z.array(z.string()).min(1, 'expected at least one word'), z.string().min(1, 'expected at least one word')], {
    error: (issue) => `expected a list of words or a command string, got ${describe(issue.input)}`,
  })
  .transform((value, context) => {
    if (Array.isArray(value)) return value;
    const words = parseShellWords(value, (name) => `$${name}`);
    if (words.every((word): word is string => typeof word === 'string')) return words;
    context.addIssue({ code: 'custom', message: 'expected plain words: a pipe, redirection or other shell operator needs ["sh", "-c", "…"]' });
    return z.NEVER;
  });

const resourceName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'expected a name of lowercase letters, digits, "_", "." and "-"');

/** `name:/path[:ro|rw]` for a declared named volume, `./path:/path[:ro|rw]` or `/path:/path[:ro|rw]` for a bind mount. */
const volumeEntry = z
  .string({ error: (issue) => `expected a volume entry such as "models:/models:ro" or "./conf:/etc/app", got ${describe(issue.input)}` })
  .transform((entry, context) => {
    const [source = '', target = '', mode = 'rw', ...rest] = entry.split(':');
    const bind = /^\.{0,2}\//.test(source) || source === '.' || source === '..';
    const problem =
      rest.length > 0 || source === '' || target === ''
        ? 'expected source:target or source:target:mode, such as "models:/models:ro"'
        : !bind && !/^[a-z0-9][a-z0-9_.-]{0,62}$/.test(source)
          ? `expected a volume name declared under volumes, or a path starting with "/" or "./", got "${source}"`
          : !target.startsWith('/')
            ? `expected an absolute path inside the container, got "${target}"`
            : mode !== 'ro' && mode !== 'rw'
              ? `expected the mode ro or rw, got "${mode}"`
              : undefined;
    if (!problem) return { entry, type: bind ? ('bind' as const) : ('volume' as const), source, target, readOnly: mode === 'ro' };
    context.addIssue({ code: 'custom', message: problem });
    return z.NEVER;
  });

const goDurationUnits: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A duration as Docker and Compose write them, "1m30s", "500ms", "5s", in nanoseconds; at least 1 ms, as the engine wants. */
const duration = z
  .string({ error: (issue) => `expected a duration such as 5s, 500ms or 1m30s, got ${describe(issue.input)}` })
  .transform((text, context) => {
    const parts = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(text) ? [...text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)] : [];
    const nanoseconds = Math.round(parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * goDurationUnits[unit!]!, 0));
    if (nanoseconds >= 1e6) return nanoseconds;
    context.addIssue({ code: 'custom', message: parts.length > 0 ? `expected at least 1ms, got ${text}` : `expected a duration such as 5s, 500ms or 1m30s, got "${text}"` });
    return z.NEVER;
  });

const healthTest = z
  .union([z.array(z.string()).min(1, 'expected at least one word'), z.string().min(1, 'expected a command')], {
    error: (issue) => `expected ["CMD", …], ["CMD-SHELL", "…"] or a command string run with /bin/sh -c, got ${describe(issue.input)}`,
  })
  .transform((test, context) => {
    if (typeof test === 'string') return ['CMD-SHELL', test];
    const [first] = test;
    const fits = (first === 'CMD' && test.length > 1) || (first === 'CMD-SHELL' && test.length === 2) || (first === 'NONE' && test.length === 1);
    if (fits) return test;
    context.addIssue({ code: 'custom', message: 'expected ["CMD", "program", …], ["CMD-SHELL", "command"] or ["NONE"]' });
    return z.NEVER;
  });

const healthcheckShape = {
  test: healthTest,
  interval: duration.optional(),
  timeout: duration.optional(),
  retries: z
    .number({ error: (issue) => `expected a whole number of retries from 1, got ${describe(issue.input)}` })
    .int({ error: (issue) => `expected a whole number of retries from 1, got ${describe(issue.input)}` })
    .min(1, { error: (issue) => `expected a whole number of retries from 1, got ${describe(issue.input)}` })
    .optional(),
  startPeriod: duration.optional(),
};

const dependencyCondition = z.enum(dependencyConditions, { error: `expected one of ${dependencyConditions.join(', ')}` });

/** A top-level volume or network: no options yet, so `{}` or nothing. */
const declared = z.strictObject({}, { error: (issue) => `expected {} (no options), got ${describe(issue.input)}` }).nullable();

/** A registry as image references name it: a host name or IP address, optionally with a port. */
const registryHost = z
  .string()
  .regex(
    /^(\[[0-9a-f:]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)(:\d{1,5})?$/i,
    'expected a registry host as image references name it, such as "registry.example.com" or "127.0.0.1:5000" (Docker Hub: "docker.io")',
  )
  // The engine reads any other first part of a reference ("registry/app") as a Docker Hub namespace.
  .refine((host) => /[.:]/.test(host) || host.toLowerCase() === 'localhost', 'expected a host with a "." or a port, or localhost, as image references name a registry');

/** A user name or password: a string, or a number written without quotes. */
const credential = z
  .union([z.string(), z.number()], { error: (issue) => `expected a string, such as "\${REGISTRY_PASSWORD}", got ${typeOf(issue.input)}` })
  .transform(String)
  .pipe(z.string().min(1, 'expected a value that is not empty'));

const registryShape = { username: credential, password: credential };

const engineName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected an engine name of lowercase letters, digits, "_" and "-"');

/** As DOCKER_HOST takes it: unix:///path, tcp://host:port, or ssh://[user@]host[:port]. */
const engineHost = z
  .string({ error: (issue) => `expected an engine address such as unix:///var/run/docker.sock or tcp://10.0.0.5:2376, got ${describe(issue.input)}` })
  .refine(
    (host) => /^unix:\/\/\/./.test(host) || /^tcp:\/\/(\[[0-9a-f:]+\]|[a-z0-9.-]+):\d{1,5}$/i.test(host) || /^ssh:\/\/([^@/\s:%]+@)?(\[[0-9a-f:]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(host),
    'expected unix:///path, tcp://host:port or ssh://user@host[:port]',
  )
  // A larger one passes the pattern but not the URL parser that connects.
  .refine((host) => Number(/^(?:tcp|ssh):\/\/.*:(\d+)$/.exec(host)?.[1] ?? 0) <= 65535, 'expected a port up to 65535');

const filePath = z.string({ error: (issue) => `expected a file path, got ${describe(issue.input)}` }).min(1, 'expected a file path');

/** PEM files, as the docker CLI's --tlscacert, --tlscert and --tlskey; relative to docker.yaml's folder. */
const tlsShape = { ca: filePath, cert: filePath, key: filePath };

const engineShape = {
  host: engineHost,
  tls: z.strictObject(tlsShape, { error: (issue) => `expected a mapping { ca, cert, key } of PEM files, got ${describe(issue.input)}` }).optional(),
};

// deploy: a Swarm module's replicas, placement and rolling update, in Compose's deploy terms.

const wholeNumber = (least: number, what: string) =>
  z
    .number({ error: (issue) => `expected ${what}, got ${describe(issue.input)}` })
    .int({ error: (issue) => `expected ${what}, got ${describe(issue.input)}` })
    .min(least, { error: (issue) => `expected ${what}, got ${describe(issue.input)}` });

/** Swarm's constraint syntax: an attribute, == or !=, a value (`docker service create --constraint`). */
const placementConstraint = z
  .string({ error: (issue) => `expected a constraint such as "node.role==worker", got ${describe(issue.input)}` })
  .regex(
    /^\s*(node\.(id|hostname|role|platform\.os|platform\.arch|labels\.[^\s=!]+)|engine\.labels\.[^\s=!]+)\s*(==|!=)\s*[^\s=!]+\s*$/,
    'expected a constraint such as "node.role==worker": node.id, node.hostname, node.role, node.platform.os, node.platform.arch, node.labels.<name> or engine.labels.<name>, then == or !=, then a value',
  )
  .refine((constraint) => !/^\s*node\.role\s*[!=]=/.test(constraint) || /[!=]=\s*(manager|worker)\s*$/.test(constraint), 'expected node.role to be compared with manager or worker');

const rolloutShape = {
  parallelism: wholeNumber(0, 'a whole number of tasks updated at once, from 0 (all at once)').default(1),
  delay: duration.optional(),
  order: z.enum(rolloutOrders, { error: `expected one of ${rolloutOrders.join(', ')}` }).default('stop-first'),
  monitor: duration.optional(),
  failureAction: z.enum(rolloutFailureActions, { error: `expected one of ${rolloutFailureActions.join(', ')}` }).default('rollback'),
  maxFailureRatio: z
    .number({ error: (issue) => `expected a ratio from 0 to 1, got ${describe(issue.input)}` })
    .min(0, { error: (issue) => `expected a ratio from 0 to 1, got ${describe(issue.input)}` })
    .max(1, { error: (issue) => `expected a ratio from 0 to 1, got ${describe(issue.input)}` })
    .default(0),
};

const deployShape = {
  replicas: wholeNumber(1, 'a whole number of replicas from 1').default(1),
  placement: z.array(placementConstraint, { error: (issue) => `expected a list of constraints such as ["node.role==worker"], got ${describe(issue.input)}` }).default([]),
  update: z
    .strictObject(rolloutShape, { error: (issue) => `expected a mapping { parallelism, delay, order, monitor, failureAction, maxFailureRatio }, got ${describe(issue.input)}` })
    .default({ parallelism: 1, order: 'stop-first', failureAction: 'rollback', maxFailureRatio: 0 }),
};

const module = z.strictObject(
  {
    kind,
    image,
    engine: engineName.optional(),
    autostart: z.boolean({ error: (issue) => `expected true or false, got ${describe(issue.input)}` }).default(true),
    envs: z.record(envName, envValue, { error: mappingError('a mapping of NAME: value', typeOf) }).default({}),
    ports: z.record(portName, port, { error: mappingError('a mapping of port names to ports') }).default({}),
    restart: restart.optional(),
    resources: z.strictObject(resourcesShape, { error: (issue) => `expected a mapping { cpus, memory }, got ${describe(issue.input)}` }).optional(),
    command: commandLine.optional(),
    entrypoint: commandLine.optional(),
    user: z
      .union([z.string(), z.number().int().nonnegative()], { error: (issue) => `expected a user such as "999" or "999:999", got ${describe(issue.input)}` })
      .transform(String)
      .pipe(z.string().regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/, 'expected a user name or id, optionally with a group: "999:999"'))
      .optional(),
    workdir: z
      .string({ error: (issue) => `expected an absolute path, got ${describe(issue.input)}` })
      .regex(/^\//, 'expected an absolute path inside the container, such as /app')
      .optional(),
    volumes: z.array(volumeEntry, { error: (issue) => `expected a list of volume entries, got ${describe(issue.input)}` }).default([]),
    networks: z.array(resourceName, { error: (issue) => `expected a list of network names declared under networks, got ${describe(issue.input)}` }).default([]),
    healthcheck: z.strictObject(healthcheckShape, { error: (issue) => `expected a mapping { test, interval, timeout, retries, startPeriod }, got ${describe(issue.input)}` }).optional(),
    update: z.enum(updateModes, { error: `expected one of ${updateModes.join(', ')}` }).default('manual'),
    dependsOn: z.record(moduleName, dependencyCondition, { error: mappingError('a mapping of module names to started, healthy or completed') }).default({}),
    deploy: z.strictObject(deployShape, { error: (issue) => `expected a mapping { replicas, placement, update }, got ${describe(issue.input)}` }).optional(),
  },
  { error: (issue) => `expected a module mapping with kind and image, got ${describe(issue.input)}` },
);

export const dockerYamlSchema = z.strictObject(
  {
    project: z
      .string({ error: (issue) => `expected a project name, got ${describe(issue.input)}` })
      .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'expected a project name of lowercase letters, digits, "_", "." and "-"')
      .default('berth'),
    volumes: z.record(resourceName, declared, { error: mappingError('a mapping of volume names to {}') }).default({}),
    networks: z.record(resourceName, declared, { error: mappingError('a mapping of network names to {}') }).default({}),
    registries: z
      .record(registryHost, z.strictObject(registryShape, { error: (issue) => `expected a mapping { username, password }, got ${typeOf(issue.input)}` }), {
        error: mappingError('a mapping of registry hosts to { username, password }', typeOf),
      })
      .default({}),
    engines: z
      .record(engineName, z.strictObject(engineShape, { error: (issue) => `expected a mapping { host, tls }, got ${describe(issue.input)}` }), {
        error: mappingError('a mapping of engine names to { host, tls }'),
      })
      .default({}),
    modules: z.record(moduleName, module, { error: mappingError('a mapping of module names to modules') }),
  },
  { error: (issue) => `expected a mapping with "modules" (and optionally "project", "volumes", "networks", "registries", "engines"), got ${describe(issue.input)}` },
);

export type DockerYaml = z.output<typeof dockerYamlSchema>;

/** A record's own error, which would otherwise replace the message of its key's schema. */
function mappingError(expected: string, got: (value: unknown) => string = describe) {
  return (issue: z.core.$ZodRawIssue) =>
    issue.code === 'invalid_key' ? issue.issues?.[0]?.message : `expected ${expected}, got ${got(issue.input)}`;
}

/** The value as a message quotes it: a scalar itself, anything else by its type. */
function describe(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? JSON.stringify(value) : typeOf(value);
}

/**
 * The value's type only: what messages about envs and registries say, since env values and credentials are
 * quoted nowhere (`config.errors` is a viewer's, and "bob:hunter2" given for a registry is a password).
 */
function typeOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

/** The keys a strict mapping at this path takes, for "unknown key" messages. */
export function allowedKeys(path: readonly (string | number)[]): string[] | undefined {
  const [top, , key] = path;
  if (path.length === 0) return Object.keys(dockerYamlSchema.shape);
  if (path.length === 2) return top === 'modules' ? Object.keys(module.shape) : top === 'registries' ? Object.keys(registryShape) : top === 'engines' ? Object.keys(engineShape) : [];
  if (path.length === 3 && top === 'engines') return key === 'tls' ? Object.keys(tlsShape) : undefined;
  if (path.length === 3) {
    return key === 'resources' ? Object.keys(resourcesShape) : key === 'healthcheck' ? Object.keys(healthcheckShape) : key === 'deploy' ? Object.keys(deployShape) : undefined;
  }
  if (path.length === 4 && key === 'ports') return Object.keys(portShape);
  return path.length === 4 && key === 'deploy' && path[3] === 'update' ? Object.keys(rolloutShape) : undefined;
}
