import type { Logger } from 'pino';

/** One audited act: a mutation, an apply or a configuration reload. */
export interface AuditEntry {
  /** The token's name for a request; for a reload, what set it off (`file`, `SIGHUP`). */
  who: string;
  /** What was done: a mutation's name, `reload`, `apply`… */
  action: string;
  /** The module it was done to, where there is one. */
  module?: string;
  /** `ok`, or how it ended otherwise: an error code, `rejected`, `rolled back`… */
  outcome: string;
  durationMs: number;
  /** What else tells this act apart: a configuration's digest, a rollback's reason. */
  details?: Record<string, unknown>;
}

/**
 * The audit trail: one log line per act, under `audit`, so that a log pipeline can keep these lines
 * apart from the rest. Never a secret: callers pass names and digests, not values.
 */
export class AuditLog {
  readonly #log: Logger;

  constructor(logger: Logger) {
    this.#log = logger.child({ component: 'audit' });
  }

  write(entry: AuditEntry): void {
    this.#log.info({ audit: entry }, `${entry.action}${entry.module ? ` ${entry.module}` : ''}: ${entry.outcome}`);
  }

  /** Runs `act` and writes its entry with the time it took; `outcome` reads how it ended, and may add details (a reason). */
  async time<T>(entry: Omit<AuditEntry, 'outcome' | 'durationMs'>, act: () => Promise<T>, outcome: (error: unknown) => string | Pick<AuditEntry, 'outcome' | 'details'>): Promise<T> {
    const start = performance.now();
    try {
      const result = await act();
      this.write({ ...entry, outcome: 'ok', durationMs: Math.round(performance.now() - start) });
      return result;
    } catch (error) {
      const ended = outcome(error);
      const { outcome: how, details } = typeof ended === 'string' ? { outcome: ended, details: undefined } : ended;
      this.write({ ...entry, outcome: how, details: details ? { ...entry.details, ...details } : entry.details, durationMs: Math.round(performance.now() - start) });
      throw error;
    }
  }
}
