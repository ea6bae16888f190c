import { closeSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Role } from '../auth/tokens.ts';

/** One audited act: a mutation, a refused request, a configuration reload, a token revoked, berth's own apply. */
export interface AuditEntry {
  /**
   * Who did it: the token's name (`anonymous` with authentication off); null for a request with no valid
   * token. For acts no request made: `berth` (its own applies), `file` or `SIGHUP` (reloads), `tokens file` (revocations).
   */
  principal: string | null;
  /** The token's role, for a request that had one. */
  role?: Role;
  /** What was done: a mutation's field name, `reload`, `revokeToken`, or the refused request (`POST /graphql`, `graphql-ws connect`…). */
  operation: string;
  /** The modules it was done to, where there are some. */
  modules?: readonly string[];
  /** `ok`, or how it ended otherwise: an error code (FORBIDDEN, UPDATE_ROLLED_BACK…), `rejected`, `unchanged`, `partial`… */
  outcome: string;
  durationMs: number;
  /** The request's id (its `x-request-id`), or the graphql-ws connection's and operation's. */
  requestId?: string;
  /** What else tells this act apart: an error's message, a configuration's digest, the client's address. Never a secret. */
  details?: Record<string, unknown>;
}

export interface AuditLogOptions {
  /** BERTH_AUDIT_FILE: where every line is appended too, one JSON object a line. */
  file?: string;
}

/**
 * The audit trail: one JSON line per act, written with the logs under `audit` (and `component: audit`, the
 * field that tells them apart) and, with a file, appended there as the bare entry. Never a secret: callers
 * pass names, codes and digests, not values.
 */
export class AuditLog {
  readonly #log: Logger;
  #file: AuditFile | undefined;

  constructor(logger: Logger, { file }: AuditLogOptions = {}) {
    // At info whatever LOG_LEVEL says, a quieter log must not turn the audit trail off; but silent is nothing on stdout.
    this.#log = logger.child({ component: 'audit' }, { level: logger.level === 'silent' ? 'silent' : 'info' });
    this.#file = file ? appendTo(resolve(file), this.#log) : undefined;
  }

  /** Writes the entry; never throws: a file that cannot be written is logged, and the act goes on. */
  write(entry: AuditEntry): void {
    const line = { time: new Date().toISOString(), ...entry };
    this.#log.info({ audit: line }, `${entry.operation}${entry.modules?.length ? ` ${entry.modules.join(',')}` : ''}: ${entry.outcome}`);
    try {
      this.#file?.write(`${JSON.stringify(line)}\n`);
    } catch (error) {
      this.#log.error({ err: error }, 'cannot write the audit file');
    }
  }

  /** Runs `act` and writes its entry with the time it took; `outcome` reads how it ended, and may add details (a reason). */
  async time<T>(entry: Omit<AuditEntry, 'outcome' | 'durationMs'>, act: () => Promise<T>, outcome: (error: unknown) => string | Pick<AuditEntry, 'outcome' | 'details'>): Promise<T> {
    const start = performance.now();
    try {
      const result = await act();
      this.write({ ...entry, outcome: 'ok', durationMs: elapsedMs(start) });
      return result;
    } catch (error) {
      const ended = outcome(error);
      const { outcome: how, details } = typeof ended === 'string' ? { outcome: ended, details: undefined } : ended;
      this.write({ ...entry, outcome: how, details: details ? { ...entry.details, ...details } : entry.details, durationMs: elapsedMs(start) });
      throw error;
    }
  }

  /** Opens the file anew under its name: after logrotate moved it (SIGHUP). */
  reopen(): void {
    try {
      this.#file?.reopen();
    } catch (error) {
      this.#log.error({ err: error }, 'cannot reopen the audit file');
    }
  }

  /** Writes what is buffered, then closes the file; later lines go to stdout alone (an operation ending at shutdown). */
  close(): void {
    this.#file?.end();
    this.#file = undefined;
  }
}

/** Milliseconds since `start` (performance.now()), rounded. */
export function elapsedMs(start: number): number {
  return Math.round(performance.now() - start);
}

/**
 * The file opened for appending: a file that cannot be is an error now, naming it and why, so that berth
 * does not start without its audit trail. A write that fails later is logged, never a crash.
 */
function appendTo(file: string, logger: Logger): AuditFile {
  try {
    closeSync(openSync(file, 'a', 0o600));
  } catch (error) {
    throw new AuditFileError(`BERTH_AUDIT_FILE: cannot append to ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // An absolute path: pino reads a name of digits alone as a file descriptor.
  const stream = pino.destination({ dest: file, append: true, sync: false, mode: 0o600 }) as AuditFile;
  stream.on('error', (error: Error) => logger.error({ err: error, file }, 'cannot write the audit file'));
  return stream;
}

type AuditFile = DestinationStream & { reopen(): void; end(): void; on(event: 'error', listener: (error: Error) => void): void };

export class AuditFileError extends Error {
  override name = 'AuditFileError';
}
