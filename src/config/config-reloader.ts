import type { Logger } from 'pino';
import { elapsedMs, type AuditLog } from '../lib/audit-log.ts';
import { pause } from '../lib/timing.ts';
import { watchFile } from '../lib/watch-file.ts';
import type { ConfigChanges } from './config-diff.ts';
import { diffConfigs, sameConfig } from './config-diff.ts';
import { ConfigError, formatIssue, type ConfigIssue } from './config-error.ts';
import { readConfig, type ReadConfig } from './docker-yaml.ts';
import type { Environment } from './interpolate.ts';
import type { BerthConfig } from './module-spec.ts';

/** What the `config` query shows: the docker.yaml in force, and the problems of a newer one that was rejected. */
export interface ConfigState {
  path: string;
  /** When the configuration in force was loaded. */
  loadedAt: Date;
  /** The digest of the file in force, as `sha256sum` prints it, with `sha256:`. */
  digest: string;
  /** Empty unless the file on disk is invalid: then the old configuration stays in force. */
  errors: readonly ConfigIssue[];
}

/** What set a reload off. */
export type ReloadTrigger = 'file' | 'SIGHUP';

/** `failed`: valid, but putting it in force failed unexpectedly (a bug: logged with its stack). */
export type ReloadOutcome = 'ok' | 'unchanged' | 'rejected' | 'failed';

export interface ConfigReloaderOptions {
  file: string;
  env: Environment;
  /** The configuration berth started with, and its file's digest. */
  loaded: ReadConfig;
  /** Puts a new configuration in force (services.reconfigure); the removed modules' containers go after it, in the background. */
  apply: (config: BerthConfig) => Promise<ConfigChanges>;
  audit: AuditLog;
  logger: Logger;
  /** How long the folder must be quiet before a change is read; default 100 ms. */
  quietMs?: number;
  /** The wait before a file that removes modules is read again to see it unchanged; default 1 s. */
  settle?: () => Promise<void>;
}

const settleMs = 1_000;

/**
 * docker.yaml read again when it changes (watch) or on SIGHUP (reload), one reload at a time. A valid new file
 * goes to `apply`; the same configuration (a comment, or keys reordered) changes nothing; an invalid one changes
 * nothing either, and its problems are logged and shown by `state` until a valid file arrives. Each reload
 * writes one audit line.
 */
export class ConfigReloader {
  readonly #file: string;
  readonly #env: Environment;
  readonly #apply: (config: BerthConfig) => Promise<ConfigChanges>;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #quietMs: number;
  readonly #settle: () => Promise<void>;
  #config: BerthConfig;
  #state: ConfigState;
  #queue: Promise<unknown> = Promise.resolve();
  #unwatch: (() => void) | undefined;

  constructor({ file, env, loaded, apply, audit, logger, quietMs = 100, settle = () => pause(settleMs) }: ConfigReloaderOptions) {
    this.#file = file;
    this.#env = env;
    this.#apply = apply;
    this.#audit = audit;
    this.#log = logger;
    this.#quietMs = quietMs;
    this.#settle = settle;
    this.#config = loaded.config;
    this.#state = { path: file, loadedAt: new Date(), digest: loaded.digest, errors: [] };
  }

  get state(): ConfigState {
    return this.#state;
  }

  /** Reloads after each burst of changes to the file (or its folder's `..data`, for a mounted ConfigMap). */
  watch(): void {
    this.#unwatch ??= watchFile(this.#file, () => void this.reload('file'), {
      quietMs: this.#quietMs,
      onError: (error) => this.#log.error({ err: error, file: this.#file }, 'cannot watch docker.yaml: changes to it are not seen; send SIGHUP to reload it'),
    });
  }

  close(): void {
    this.#unwatch?.();
  }

  /** Reads the file again, after any reload under way; never throws. */
  reload(who: ReloadTrigger): Promise<ReloadOutcome> {
    const reload = this.#queue.then(() => this.#reload(who));
    this.#queue = reload;
    return reload;
  }

  async #reload(who: ReloadTrigger): Promise<ReloadOutcome> {
    const began = performance.now();
    const audit = (outcome: ReloadOutcome, details: Record<string, unknown>) => {
      this.#audit.write({ principal: who, operation: 'reload', outcome, durationMs: elapsedMs(began), details: { file: this.#file, ...details } });
      return outcome;
    };
    try {
      return await this.#read(audit);
    } catch (error) {
      this.#log.error({ err: error, file: this.#file }, 'reloading docker.yaml failed');
      return audit('failed', {});
    }
  }

  async #read(audit: (outcome: ReloadOutcome, details: Record<string, unknown>) => ReloadOutcome): Promise<ReloadOutcome> {
    let read: ReadConfig;
    try {
      read = await this.#settled(await this.#readFile());
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      this.#state = { ...this.#state, errors: error.issues };
      this.#log.error({ file: this.#file, problems: error.issues.map(formatIssue) }, 'docker.yaml is invalid; the configuration in force stays');
      return audit('rejected', { digest: error.digest, problems: error.issues.length });
    }
    if (sameConfig(this.#config, read.config)) {
      this.#state = { ...this.#state, digest: read.digest, errors: [] };
      return audit('unchanged', { digest: read.digest });
    }
    const changes = await this.#apply(read.config);
    // Only once in force: after a failed apply, the same file read again is applied again, not `unchanged`.
    this.#config = read.config;
    this.#state = { path: this.#file, loadedAt: new Date(), digest: read.digest, errors: [] };
    this.#log.info({ file: this.#file, ...changes }, 'docker.yaml reloaded');
    return audit('ok', { digest: read.digest, ...changes, ...(changes.removed.length > 0 && { removal: 'background' }) });
  }

  #readFile(): Promise<ReadConfig> {
    const deployed = new Map(this.#config.modules.map((module) => [module.name, module.deploy !== undefined]));
    return readConfig(this.#file, this.#env, { project: this.#config.project, engines: this.#config.engines, deployed });
  }

  /**
   * A file read part-way through a slow write (scp, a pipe: pieces further apart than the quiet time) that
   * broke at a module is valid, and would remove the modules not yet written. A file that removes modules is
   * therefore read again after a wait, until it reads the same.
   */
  async #settled(read: ReadConfig): Promise<ReadConfig> {
    while (diffConfigs(this.#config, read.config).removed.length > 0) {
      await this.#settle();
      const again = await this.#readFile();
      if (again.digest === read.digest) return read;
      read = again;
    }
    return read;
  }
}
