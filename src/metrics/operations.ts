import { Counter, Histogram, type Registry } from 'prom-client';

/** From 10 ms to 5 minutes: a stop waits out its grace period, a start its dependencies' conditions. */
export const operationBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** Each mutation field run: how it ended and how long it took. */
export class OperationMetrics {
  readonly #total: Counter<'operation' | 'outcome'>;
  readonly #duration: Histogram<'operation'>;

  constructor(registry: Registry) {
    this.#total = new Counter({
      name: 'berth_operations_total',
      help: "Mutation fields run, by field and outcome: ok, or the error's extensions.code",
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: 'berth_operation_duration_seconds',
      help: 'How long the operation running a mutation field took, by field; refusals (FORBIDDEN) are not timed',
      labelNames: ['operation'],
      buckets: operationBuckets,
      registers: [registry],
    });
  }

  /** Counted whatever the outcome; timed only when it ran: a refusal's nothing would drag the quantiles down. */
  record(operation: string, outcome: string, seconds: number): void {
    this.#total.inc({ operation, outcome });
    if (outcome !== 'FORBIDDEN' && outcome !== 'UNAUTHENTICATED') this.#duration.observe({ operation }, seconds);
  }
}
