// The soak's graphql-ws subscribers, in a process of their own: 200 of them parsing every transition must not
// slow the driver's clock or the engine checks. Driven over IPC by bench/soak.ts.
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

export type SoakSubscribersCommand =
  | { type: 'subscribe'; url: string; count: number; modules: string[] }
  | { type: 'snapshot' }
  | { type: 'close' };

export interface SubscribersSnapshot {
  type: 'snapshot';
  /** Each subscriber's last-seen status of each module, in the order of the modules given; '' when never seen. */
  statuses: string[][];
  /** Subscribers whose current subscription has delivered its opening snapshot of every module. */
  complete: number;
  /** Changes delivered to all subscribers, opening snapshots left out. */
  transitions: number;
  /** Changes whose `previous` was not the subscriber's last-seen status: a delivery was lost or reordered. */
  discontinuities: number;
  /** Subscriptions opened again after berth ended them, by why: the code of the error it sent, or `complete`. */
  resubscriptions: Record<string, number>;
  /** Time since anything (a change or an opening snapshot) reached any subscriber. */
  quietForMs: number;
}

interface StatusChange {
  moduleStatusChanged?: { module: { name: string }; previous: string | null; status: string };
}

const subscription = 'subscription { moduleStatusChanged(initial: true) { module { name } previous status } }';
const resubscribeDelayMs = 500;
const counters = { transitions: 0, discontinuities: 0, lastDeliveryAt: Date.now() };
const resubscriptions: Record<string, number> = {};

/** One graphql-ws client holding one subscription to every module, reopened whatever ends it. */
class Subscriber {
  readonly lastSeen = new Map<string, string>();
  /** Modules the current subscription has sent its opening snapshot of. */
  private readonly openingSeen = new Set<string>();
  private readonly client: Client;
  private unsubscribe: (() => void) | undefined;
  /** The error berth answered the current subscription with, if any: graphql-ws completes it next. */
  private refusal: string | undefined;
  private closed = false;

  constructor(url: string) {
    this.client = createClient({
      url,
      webSocketImpl: WebSocket,
      // Forever and quickly: berth is killed and restarted on purpose during the soak.
      retryAttempts: Infinity,
      shouldRetry: () => true,
      retryWait: () => sleep(200 + Math.random() * 800),
      // graphql-ws subscribes again by itself on a new connection: a new opening snapshot follows.
      on: { connected: () => this.openingSeen.clear() },
    });
  }

  subscribe(): void {
    this.openingSeen.clear();
    this.refusal = undefined;
    this.unsubscribe = this.client.subscribe<StatusChange>(
      { query: subscription },
      {
        next: ({ data, errors }) => {
          if (errors) this.refusal = endReason(errors);
          else this.receive(data?.moduleStatusChanged);
        },
        error: (error) => this.subscribeAgain(endReason(error)),
        complete: () => this.subscribeAgain(this.refusal ?? 'complete'),
      },
    );
  }

  isComplete(moduleCount: number): boolean {
    return this.openingSeen.size === moduleCount;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    await this.client.dispose();
  }

  private receive(change: StatusChange['moduleStatusChanged']): void {
    if (!change) return;
    const name = change.module.name;
    counters.lastDeliveryAt = Date.now();
    if (change.previous === null) {
      this.openingSeen.add(name);
    } else {
      counters.transitions++;
      if (this.lastSeen.has(name) && this.lastSeen.get(name) !== change.previous) counters.discontinuities++;
    }
    this.lastSeen.set(name, change.status);
  }

  /** berth answers errors while it has not listed the engine yet, e.g. just after its restart. */
  private subscribeAgain(reason: string): void {
    if (this.closed) return;
    resubscriptions[reason] = (resubscriptions[reason] ?? 0) + 1;
    setTimeout(() => this.subscribe(), resubscribeDelayMs);
  }
}

/** GraphQL errors (in a result or an error message), or whatever ended the connection for good. */
function endReason(error: unknown): string {
  if (Array.isArray(error)) {
    const [first] = error as { message?: string; extensions?: { code?: string } }[];
    return first?.extensions?.code ?? first?.message ?? 'error';
  }
  return error instanceof Error ? error.message : `close ${(error as { code?: number }).code ?? '?'}`;
}

let subscribers: Subscriber[] = [];
let moduleNames: string[] = [];

function snapshot(): SubscribersSnapshot {
  return {
    type: 'snapshot',
    statuses: subscribers.map((subscriber) => moduleNames.map((name) => subscriber.lastSeen.get(name) ?? '')),
    complete: subscribers.filter((subscriber) => subscriber.isComplete(moduleNames.length)).length,
    transitions: counters.transitions,
    discontinuities: counters.discontinuities,
    resubscriptions,
    quietForMs: Date.now() - counters.lastDeliveryAt,
  };
}

async function closeAll(): Promise<void> {
  await Promise.allSettled(subscribers.map((subscriber) => subscriber.close()));
  process.disconnect();
}

process.on('message', (command: SoakSubscribersCommand) => {
  if (command.type === 'subscribe') {
    moduleNames = command.modules;
    subscribers = Array.from({ length: command.count }, () => new Subscriber(command.url));
    subscribers.forEach((subscriber) => subscriber.subscribe());
  } else if (command.type === 'snapshot') {
    process.send!(snapshot());
  } else {
    void closeAll();
  }
});
// The soak may die without saying goodbye: do not outlive it.
process.on('disconnect', () => process.exit(0));
