// The graphql-ws subscribers of benchmarks b and d, in a process of their own: their parsing is not
// charged to the process that times the change. Driven over IPC by bench/subscriber-process.ts; times
// are epoch milliseconds. The same clients subscribe to berth and to its floor (bench/floor-ws.ts).
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import { print } from 'graphql';
import WebSocket from 'ws';
import { ModuleStatusChangedDocument, type ModuleStatusChangedSubscription } from '../test/generated/operations.ts';

export type SubscribersCommand =
  | { type: 'subscribe'; url: string; count: number; module: string; localAddress?: string }
  | { type: 'expect'; status: string; ack?: boolean }
  | { type: 'close' };

export type StatusChange = NonNullable<ModuleStatusChangedSubscription['moduleStatusChanged']>;

/** `change`: the first subscriber's copy, from which the floor builds the frame it broadcasts. */
export type SubscribersReport = { type: 'subscribed' } | { type: 'expecting' } | { type: 'arrived'; times: number[]; change: StatusChange } | { type: 'failed'; message: string };

/**
 * Every client's one subscription has this id (ids need only be unique on their connection): the
 * floor then broadcasts one precomputed frame to all, byte for byte the size of berth's.
 */
export const subscriptionId = '00000000-0000-4000-8000-000000000000';

const now = () => performance.timeOrigin + performance.now();
const send = (report: SubscribersReport) => process.send!(report);

const clients: Client[] = [];
const disposers: (() => void)[] = [];
let expected: string | undefined;
/** When each subscriber got the expected change, in arrival order. */
let arrivals: number[] = [];

/** ws bound to one source address: each shard its own, so 10,000 connections do not run out of ephemeral ports. */
function socketFrom(localAddress: string | undefined): new (address: string, protocols?: string | string[]) => WebSocket {
  if (!localAddress) return WebSocket;
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, { localAddress });
    }
  };
}

/** Adds subscribers up to `count`; those already there keep their subscription. */
function subscribe({ url, count, module, localAddress }: Extract<SubscribersCommand, { type: 'subscribe' }>): void {
  const webSocketImpl = socketFrom(localAddress);
  const added = clients.length;
  if (added >= count) {
    send({ type: 'subscribed' });
    return;
  }
  while (clients.length < count) clients.push(createClient({ url, webSocketImpl, lazy: false, retryAttempts: 0, generateID: () => subscriptionId }));
  let opened = 0;
  for (const client of clients.slice(added)) {
    const dispose = client.subscribe<ModuleStatusChangedSubscription>(
      // initial: each subscriber first gets the current status, which tells that it is subscribed.
      { query: print(ModuleStatusChangedDocument), variables: { names: [module], initial: true } },
      {
        next: ({ data }) => {
          const change = data?.moduleStatusChanged;
          if (change?.previous === null) {
            if (++opened === count - added) send({ type: 'subscribed' });
          } else if (change?.status === expected) {
            arrivals.push(now());
            if (arrivals.length === clients.length) send({ type: 'arrived', times: arrivals, change: change! });
          }
        },
        // graphql-ws passes an Error, a CloseEvent (code, reason) or the socket's ErrorEvent (its error inside).
        error: (error) => {
          const { message, code, reason, error: inner } = error as { message?: string; code?: number; reason?: string; error?: Error };
          send({ type: 'failed', message: inner?.message ?? message ?? `closed ${code} ${reason}` });
        },
        complete: () => {},
      },
    );
    disposers.push(dispose);
  }
}

process.on('message', (command: SubscribersCommand) => {
  if (command.type === 'subscribe') subscribe(command);
  else if (command.type === 'expect') {
    expected = command.status;
    arrivals = [];
    if (command.ack) send({ type: 'expecting' });
  } else {
    disposers.forEach((dispose) => dispose());
    for (const client of clients) void client.dispose();
    process.disconnect();
  }
});
