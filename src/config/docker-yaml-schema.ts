import { isIP } from 'node:net';
import { parse as parseShellWords } from 'shell-quote';
import { z } from 'zod';
import { portProtocols } from './module-spec.ts';

const moduleName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a module name of lowercase letters, digits and "-" (at most 63, starting with a letter or digit)');

const kind = z
  .string({ error: (issue) => `expected a string naming the kind, such as "piper", got ${describe(issue.input)}` })
  .regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/, 'expected a kind of letters, digits, "_", "." and "-", starting with a letter or digit');

const image = z
  .string({ error: (issue) => `expected an image reference, such as "local/piper:1.2", got ${describe(issue.input)}` })
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/i, 'expected an image reference, such as "local/piper:1.2"')
  // The engine refuses an uppercase repository ("invalid reference format"); a registry host and a tag may have it.
  .refine((reference) => !/[A-Z]/.test(repositoryPath(reference)), 'expected a repository name in lowercase (the tag may have capitals), such as "local/piper:1.2"');

/** The reference without its registry host, tag and digest: the part the engine wants in lowercase. */
function repositoryPath(reference: string): string {
  const name = reference.split('@')[0]!.replace(/:[^/:]*$/, '');
  const [first, ...rest] = name.split('/');
  const isHost = rest.length > 0 && (first!.includes('.') || first!.includes(':') || first === 'localhost');
  return isHost ? rest.join('/') : name;
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
  error: (issue) => `expected a scalar value (string, number or boolean), got ${describe(issue.input)}`,
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
    .positive({ error: 'expected a number of CPUs above 0, such as 0.5' })
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

const module = z.strictObject(
  {
    kind,
    image,
    autostart: z.boolean({ error: (issue) => `expected true or false, got ${describe(issue.input)}` }).default(true),
    envs: z.record(envName, envValue, { error: mappingError('a mapping of NAME: value') }).default({}),
    ports: z.record(portName, port, { error: mappingError('a mapping of port names to ports') }).default({}),
    restart: restart.optional(),
    resources: z.strictObject(resourcesShape, { error: (issue) => `expected a mapping { cpus, memory }, got ${describe(issue.input)}` }).optional(),
    command: commandLine.optional(),
    entrypoint: commandLine.optional(),
    user: z
      .string({ error: (issue) => `expected a user such as "999" or "999:999", got ${describe(issue.input)}` })
      .regex(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/, 'expected a user name or id, optionally with a group: "999:999"')
      .optional(),
    workdir: z
      .string({ error: (issue) => `expected an absolute path, got ${describe(issue.input)}` })
      .regex(/^\//, 'expected an absolute path inside the container, such as /app')
      .optional(),
  },
  { error: (issue) => `expected a module mapping with kind and image, got ${describe(issue.input)}` },
);

export const dockerYamlSchema = z.strictObject(
  {
    project: z
      .string({ error: (issue) => `expected a project name, got ${describe(issue.input)}` })
      .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'expected a project name of lowercase letters, digits, "_", "." and "-"')
      .default('berth'),
    modules: z.record(moduleName, module, { error: mappingError('a mapping of module names to modules') }),
  },
  { error: (issue) => `expected a mapping with "modules" (and optionally "project"), got ${describe(issue.input)}` },
);

export type DockerYaml = z.output<typeof dockerYamlSchema>;

/** A record's own error, which would otherwise replace the message of its key's schema. */
function mappingError(expected: string) {
  return (issue: z.core.$ZodRawIssue) =>
    issue.code === 'invalid_key' ? issue.issues?.[0]?.message : `expected ${expected}, got ${describe(issue.input)}`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return JSON.stringify(value);
}

/** The keys a strict mapping at this path takes, for "unknown key" messages. */
export function allowedKeys(path: readonly (string | number)[]): string[] | undefined {
  if (path.length === 3 && path[2] === 'resources') return Object.keys(resourcesShape);
  const shapes = [dockerYamlSchema.shape, module.shape, portShape];
  const depth = path.length === 0 ? 0 : path.length === 2 ? 1 : path.length === 4 ? 2 : undefined;
  return depth === undefined ? undefined : Object.keys(shapes[depth]!);
}
