import { z } from 'zod';
import type { Environment } from './interpolate.ts';

const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const settingsSchema = z.object({
  PORT: z.string().regex(/^\d+$/, 'expected a port number from 0 to 65535').transform(Number).pipe(z.number().max(65535, 'expected a port number from 0 to 65535')).default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  BERTH_CONFIG: z.string().min(1).default('./docker.yaml'),
  DOCKER_HOST: z
    .string()
    .regex(/^(unix|tcp|ssh|npipe):\/\/./, 'expected unix:///path, tcp://host:port, ssh://user@host or npipe:////./pipe/name')
    .optional(),
  LOG_LEVEL: z.enum(logLevels).default('info'),
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
  const { PORT, HOST, BERTH_CONFIG, DOCKER_HOST, LOG_LEVEL } = parsed.data;
  return { port: PORT, host: HOST, configFile: BERTH_CONFIG, dockerHost: DOCKER_HOST, logLevel: LOG_LEVEL };
}
