import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { RunningServer } from '../../src/http/listen.ts';
import { waitFor } from './harness.ts';

/** A graphql-ws client of a listening berth that connects at once and never retries, as a test wants. */
export function wsClient(server: RunningServer, connectionParams?: Record<string, unknown>): Client {
  return createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0, connectionParams });
}

export interface Subscription<T> {
  /** What the subscription's field delivered, in order. */
  received: T[];
  errors: unknown[];
  isCompleted(): boolean;
  dispose(): void;
  /** Waits for a delivery, from index `from` on, that satisfies `condition`; answers it. */
  until(condition: (item: T) => boolean, what: string, from?: number, timeoutMs?: number): Promise<T>;
}

/** One graphql-ws subscription, collecting what its field is sent. */
export function subscribe<T>(client: Client, query: string, field: string, variables?: Record<string, unknown>): Subscription<T> {
  const received: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const dispose = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => (result.data ? received.push(result.data[field]!) : errors.push(result.errors)),
      error: (error) => errors.push(error),
      complete: () => (completed = true),
    },
  );
  const found = (condition: (item: T) => boolean, from: number) => received.slice(from).find(condition);
  return {
    received,
    errors,
    isCompleted: () => completed,
    dispose,
    async until(condition, what, from = 0, timeoutMs?: number) {
      try {
        await waitFor(() => found(condition, from) !== undefined, what, timeoutMs);
      } catch (error) {
        // What came last tells a missed delivery from a slow engine.
        throw new Error(`${(error as Error).message}; last delivered: ${JSON.stringify(received.at(-1))}`, { cause: error });
      }
      return found(condition, from)!;
    },
  };
}
