import type { Logger } from 'pino';
import type { AuditLog } from '../lib/audit-log.ts';
import { watchFile } from '../lib/watch-file.ts';
import { authenticate, loadTokens, stillGranted, type Principal, type TokenEntry } from './tokens.ts';

/** Decides who a presented token belongs to. */
export interface Authenticator {
  /** False while authentication is off: everyone is the anonymous operator. */
  readonly enabled: boolean;
  authenticate(token: string | undefined): Principal | undefined;
  /** False once the principal's token is no longer granted (removed from the tokens file, or its role changed). */
  isCurrent(principal: Principal): boolean;
  /** Calls the listener after the tokens change; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
  close(): void;
}

export const anonymous: Principal = { name: 'anonymous', role: 'operator' };

/** Authentication off: only where the settings allow it (loopback, or BERTH_AUTH=off). */
export const noAuthentication: Authenticator = {
  enabled: false,
  authenticate: () => anonymous,
  isCurrent: () => true,
  onChange: () => () => {},
  close: () => {},
};

/**
 * The tokens of a tokens file, re-read when it changes (watchFile: an editor's atomic rename and a
 * mounted secret's symlink swap count). A file that has become invalid is reported and the tokens read
 * before are kept.
 */
export class TokenFileAuthenticator implements Authenticator {
  readonly enabled = true;
  #entries: readonly TokenEntry[];
  readonly #file: string;
  readonly #logger: Logger;
  readonly #audit: AuditLog | undefined;
  readonly #unwatch: () => void;
  readonly #listeners = new Set<() => void>();

  private constructor(file: string, entries: TokenEntry[], logger: Logger, audit: AuditLog | undefined) {
    this.#file = file;
    this.#entries = entries;
    this.#logger = logger;
    this.#audit = audit;
    this.#unwatch = watchFile(file, () => void this.#reload(), {
      onError: (error) => logger.error({ err: error, file }, 'cannot watch the tokens file; it will not be re-read'),
    });
  }

  /** Reads the file; an unreadable or invalid file is a ConfigError, so berth does not start. Revocations are audited. */
  static async open(file: string, logger: Logger, audit?: AuditLog): Promise<TokenFileAuthenticator> {
    return new TokenFileAuthenticator(file, await loadTokens(file), logger, audit);
  }

  get count(): number {
    return this.#entries.length;
  }

  authenticate(token: string | undefined): Principal | undefined {
    return authenticate(this.#entries, token);
  }

  isCurrent(principal: Principal): boolean {
    return stillGranted(this.#entries, principal);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#unwatch();
  }

  async #reload(): Promise<void> {
    try {
      const before = this.#entries;
      this.#entries = await loadTokens(this.#file);
      this.#logger.info({ file: this.#file, tokens: this.#entries.length }, 'tokens file re-read');
      // A token gone from the file, or whose role changed: one audit line each, by its name (never its value).
      for (const revoked of before.filter((entry) => !stillGranted(this.#entries, entry))) {
        this.#audit?.write({ principal: 'tokens file', operation: 'revokeToken', outcome: 'ok', durationMs: 0, details: { token: revoked.name, role: revoked.role, file: this.#file } });
      }
      for (const listener of this.#listeners) listener();
    } catch (error) {
      this.#logger.error({ file: this.#file, problems: (error as Error).message }, 'tokens file is invalid; keeping the tokens read before');
    }
  }
}
