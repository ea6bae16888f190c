// The graphql-ws subscribers of benchmark b, in a process of their own: their parsing is not charged
// to the process that times the engine. Driven over IPC by bench/run.ts; times are epoch milliseconds.
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import { print } from 'graphql';
import WebSocket from 'ws';
import { ModuleStatusChangedDocument, type ModuleStatusChangedSubscription } from '../test/generated/operations.ts';

export type SubscribersCommand =
  | { type: 'subscribe'; url: string; count: number; module: string }
  | { type: 'expect'; status: string }
  | { type: 'close' };

export type SubscribersReport = { type: 'subscribed' } | { type: 'arrived'; times: number[] } | { type: 'failed'; message: string };

const now = () => performance.timeOrigin + performance.now();
const send = (report: SubscribersReport) => process.send!(report);

const clients: Client[] = [];
let disposers: (() => void)[] = [];
let expected: string | undefined;
/** When each subscriber got the expected change, in arrival order. */
let arrivals: number[] = [];

function subscribe(url: string, count: number, module: string): void {
  disposers.forEach((dispose) => dispose());
  while (clients.length < count) clients.push(createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 }));
  let opened = 0;
  disposers = clients.map((client) =>
    client.subscribe<ModuleStatusChangedSubscription>(
      // initial: each subscriber first gets the current status, which tells that it is subscribed.
      { query: print(ModuleStatusChangedDocument), variables: { names: [module], initial: true } },
      {
        next: ({ data }) => {
          const change = data?.moduleStatusChanged;
          if (change?.previous === null) {
            if (++opened === count) send({ type: 'subscribed' });
          } else if (change?.status === expected) {
            arrivals.push(now());
            if (arrivals.length === count) send({ type: 'arrived', times: arrivals });
          }
        },
        error: (error) => send({ type: 'failed', message: String(error instanceof Error ? error.message : JSON.stringify(error)) }),
        complete: () => {},
      },
    ),
  );
}

process.on('message', (command: SubscribersCommand) => {
  if (command.type === 'subscribe') subscribe(command.url, command.count, command.module);
  else if (command.type === 'expect') {
    expected = command.status;
    arrivals = [];
  } else {
    disposers.forEach((dispose) => dispose());
    for (const client of clients) void client.dispose();
    process.disconnect();
  }
});
