import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { Environment } from './interpolate.ts';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const onOff = z.enum(['on', 'off'], { error: 'expected on or off' });
const count = z.string().regex(/^[1-9]\d*$/, 'expected a whole number of at least 1').transform(Number);

const settingsSchema = z.object({
  PORT: z.string().regex(/^\d+$/, 'expected a port number from 0 to 65535').transform(Number).pipe(z.number().max(65535, 'expected a port number from 0 to 65535')).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  BERTH_CONFIG: z.string().min(1).default('./docker.yaml'),
  DOCKER_HOST: z
    .string()
    .regex(/^(unix|tcp|ssh|npipe):\/\/./, 'expected unix:///path, tcp://host:port, ssh://user@host or npipe:////./pipe/name')
    .optional(),
  LOG_LEVEL: z.enum(logLevels).default('info'),
  BERTH_TOKENS_FILE: z.string().min(1).optional(),
  BERTH_AUDIT_FILE: z.string().min(1).optional(),
  BERTH_AUTH: z.enum(['on', 'off'], { error: 'expected on or off' }).optional(),
  BERTH_GRAPHIQL: onOff.default('on'),
  BERTH_INTROSPECTION: onOff.default('on'),
  BERTH_MAX_CONNECTIONS: count.default(4096),
  BERTH_MAX_SUBSCRIPTIONS: count.default(100),
  BERTH_MAX_BODY_BYTES: count.default(100_000),
  BERTH_MAX_UPLOAD_BYTES: count.default(10 * 1024 ** 3),
  // A day at most: Node's timers take at most 2^31-1 ms, and run a longer interval every millisecond.
  BERTH_RESYNC_SECONDS: count.pipe(z.number().max(86_400, 'expected at most 86400 seconds (a day)')).default(60),
  BERTH_DEPENDENCY_TIMEOUT_SECONDS: count.pipe(z.number().max(86_400, 'expected at most 86400 seconds (a day)')).default(300),
  BERTH_UPDATE_TIMEOUT_SECONDS: count.pipe(z.number().max(86_400, 'expected at most 86400 seconds (a day)')).default(60),
});

export interface Settings {
  /** HTTP port to listen on; default 4000. */
  port: number;
  /** Address to bind; default 127.0.0.1, so nothing beyond this machine reaches berth unless asked. */
  host: string;
  /** Path of docker.yaml; default ./docker.yaml. */
  configFile: string;
  /** Engine address as the docker CLI reads it; default the local socket. */
  dockerHost: string | undefined;
  /** pino level; default info. */
  logLevel: (typeof logLevels)[number];
  /** Who may call berth: tokens from a file, or nobody checked (loopback, or BERTH_AUTH=off). */
  auth: AuthSetting;
  /** A file the audit lines are appended to as well; default none (they go to stdout with the logs). */
  auditFile: string | undefined;
  /** GraphiQL at /graphql in a browser; default on. */
  graphiql: boolean;
  /** How often everything on the engine is listed again, to catch what events missed; default 60 s. */
  resyncSeconds: number;
  /** How long a start waits for each dependency to be started, healthy or completed; default 300 s. */
  dependencyTimeoutSeconds: number;
  /** How long an applied module's new container has to run, and be healthy with a healthcheck, before it is rolled back; default 60 s. */
  updateTimeoutSeconds: number;
  /** Introspection queries; default on. */
  introspection: boolean;
  limits: {
    /** Open TCP connections, HTTP and graphql-ws together; default 4096. */
    connections: number;
    /** Active subscriptions on one graphql-ws connection; default 100. */
    subscriptionsPerConnection: number;
    /** Request body size in bytes; default 100,000. */
    bodyBytes: number;
    /** An image archive uploaded to loadImages, in bytes; default 10 GiB. */
    uploadBytes: number;
  };
}

export type AuthSetting = { mode: 'tokens'; file: string } | { mode: 'off'; why: 'loopback' | 'BERTH_AUTH=off' };

/** 127.0.0.0/8, ::1 and localhost: only this machine reaches a service bound there. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (bare === 'localhost') return true;
  const ipv4 = bare.startsWith('::ffff:') ? bare.slice('::ffff:'.length) : bare;
  if (isIPv4(ipv4)) return ipv4.startsWith('127.');
  return isIPv6(bare) && bare.replace(/^(0{0,4}:)+/, '::').replace(/^:+/, '::') === '::1';
}

function authSetting(host: string, tokensFile: string | undefined, auth: 'on' | 'off' | undefined): AuthSetting {
  if (tokensFile && auth === 'off') throw new SettingsError('environment variable BERTH_AUTH: off contradicts BERTH_TOKENS_FILE; unset one of them');
  if (tokensFile) return { mode: 'tokens', file: tokensFile };
  if (auth === 'off') return { mode: 'off', why: 'BERTH_AUTH=off' };
  if (auth === 'on') throw new SettingsError('environment variable BERTH_AUTH: on needs BERTH_TOKENS_FILE, the tokens to accept (npm run token prints one)');
  if (isLoopback(host)) return { mode: 'off', why: 'loopback' };
  throw new SettingsError(
    `environment variable HOST: ${host} lets other machines reach berth, and with it the Docker engine, but no BERTH_TOKENS_FILE is set. ` +
      'Set BERTH_TOKENS_FILE (npm run token -- --name <who> --role operator prints a token and its line), ' +
      'or set BERTH_AUTH=off to run without authentication on purpose.',
  );
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

export function readSettings(env: Environment): Settings {
  // As the docker CLI does, an empty variable counts as unset.
  const set = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value.trim() !== ''));
  const parsed = settingsSchema.safeParse(set);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `environment variable ${issue.path.join('.')}: ${issue.message}`);
    throw new SettingsError(lines.join('\n'));
  }
  const data = parsed.data;
  return {
    port: data.PORT,
    host: data.HOST,
    configFile: data.BERTH_CONFIG,
    dockerHost: data.DOCKER_HOST,
    logLevel: data.LOG_LEVEL,
    auth: authSetting(data.HOST, data.BERTH_TOKENS_FILE, data.BERTH_AUTH),
    auditFile: data.BERTH_AUDIT_FILE,
    graphiql: data.BERTH_GRAPHIQL === 'on',
    resyncSeconds: data.BERTH_RESYNC_SECONDS,
    dependencyTimeoutSeconds: data.BERTH_DEPENDENCY_TIMEOUT_SECONDS,
    updateTimeoutSeconds: data.BERTH_UPDATE_TIMEOUT_SECONDS,
    introspection: data.BERTH_INTROSPECTION === 'on',
    limits: { connections: data.BERTH_MAX_CONNECTIONS, subscriptionsPerConnection: data.BERTH_MAX_SUBSCRIPTIONS, bodyBytes: data.BERTH_MAX_BODY_BYTES, uploadBytes: data.BERTH_MAX_UPLOAD_BYTES },
  };
}
