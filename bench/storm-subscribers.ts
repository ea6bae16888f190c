// The graphql-ws subscribers of benchmark m (bench/storm.ts), in a process of their own, driven over IPC.
// Each follows every module's status (moduleStatusChanged, initial: true) and checks, per module, that
// the changes form one unbroken chain (each change's `previous` is the status delivered before it) that
// never goes back to RUNNING once the storm began, and ends at the engine's final status. Slow clients
// stop reading their socket during the storm. Times are epoch milliseconds.
import { performance } from 'node:perf_hooks';
import { createClient } from 'graphql-ws';
import { print } from 'graphql';
import WebSocket from 'ws';
import { ModuleStatusChangedDocument, type ModuleStatusChangedSubscription } from '../test/generated/operations.ts';

export type StormCommand =
  | { type: 'subscribe'; url: string; count: number; slow: number; modules: number; localAddress?: string; id: string }
  | { type: 'expect'; final: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'close' };

/** What one client saw of the storm. */
export interface ClientOutcome {
  slow: boolean;
  /** When the last of its modules reached the final status; undefined if one never did. */
  done: number | undefined;
  /** Changes delivered during the storm. */
  changes: number;
  /** When each module that is at the final status got there, by module name. */
  finalAt: Record<string, number>;
  /** Broken chains, changes back to RUNNING, and an end or error of the subscription. */
  faults: string[];
}

export type StormReport =
  | { type: 'subscribed' }
  | { type: 'expecting' }
  | { type: 'delivered'; clients: ClientOutcome[] }
  | { type: 'paused' }
  | { type: 'resumed'; clients: ClientOutcome[] }
  | { type: 'failed'; message: string };

type Change = NonNullable<ModuleStatusChangedSubscription['moduleStatusChanged']>;

const now = () => performance.timeOrigin + performance.now();
const send = (report: StormReport) => process.send!(report);
/** Faults kept per client: enough to say what went wrong. */
const keptFaults = 5;

class StormClient {
  readonly statuses = new Map<string, string>();
  readonly outcome: ClientOutcome;
  socket: WebSocket | undefined;
  dispose: (() => unknown) | undefined;
  #final: string | undefined;
  #atFinal = 0;
  #ended = false;

  readonly slow: boolean;
  readonly modules: number;

  constructor(slow: boolean, modules: number) {
    this.slow = slow;
    this.modules = modules;
    this.outcome = { slow, done: undefined, changes: 0, finalAt: {}, faults: [] };
  }

  get opened(): boolean {
    return this.statuses.size === this.modules;
  }

  get finished(): boolean {
    return this.#ended || this.outcome.done !== undefined;
  }

  expect(final: string): void {
    this.#final = final;
    this.#atFinal = [...this.statuses.values()].filter((status) => status === final).length;
    Object.assign(this.outcome, { done: undefined, changes: 0, finalAt: {}, faults: [] });
  }

  take(change: Change): void {
    const name = change.module.name;
    const before = this.statuses.get(name);
    this.statuses.set(name, change.status);
    if (change.previous === null || this.#final === undefined) return;
    this.outcome.changes++;
    if (change.previous !== before) this.fault(`${name}: ${change.previous} → ${change.status} after ${before}`);
    if (change.status === 'RUNNING') this.fault(`${name}: back to RUNNING during the storm`);
    this.#atFinal += Number(change.status === this.#final) - Number(before === this.#final);
    if (change.status === this.#final) this.outcome.finalAt[name] = now();
    else delete this.outcome.finalAt[name];
    if (this.#atFinal === this.modules && this.outcome.done === undefined) this.outcome.done = now();
  }

  end(why: string): void {
    this.#ended = true;
    this.fault(`subscription ended: ${why}`);
  }

  fault(message: string): void {
    if (this.outcome.faults.length < keptFaults) this.outcome.faults.push(message);
  }
}

const clients: StormClient[] = [];
let waitingForAll: 'subscribed' | 'delivered' | undefined;

/** Reports once every fast client is subscribed, or once every fast client has the storm's final statuses. */
function check(): void {
  const fast = clients.filter((client) => !client.slow);
  const lost = clients.find((client) => client.finished && !client.opened);
  if (waitingForAll === 'subscribed' && lost) {
    waitingForAll = undefined;
    send({ type: 'failed', message: lost.outcome.faults.join('; ') });
  } else if (waitingForAll === 'subscribed' && clients.every((client) => client.opened)) {
    waitingForAll = undefined;
    send({ type: 'subscribed' });
  } else if (waitingForAll === 'delivered' && fast.every((client) => client.finished)) {
    waitingForAll = undefined;
    send({ type: 'delivered', clients: fast.map((client) => client.outcome) });
  }
}

/** ws that remembers its instance, so that a slow client can stop reading its socket. */
function socketOf(client: StormClient, localAddress: string | undefined): new (address: string, protocols?: string | string[]) => WebSocket {
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols, localAddress ? { localAddress } : {});
      client.socket = this;
    }
  };
}

function subscribe({ url, count, slow, modules, localAddress, id }: Extract<StormCommand, { type: 'subscribe' }>): void {
  waitingForAll = 'subscribed';
  for (let index = 0; index < count; index++) {
    const client = new StormClient(index < slow, modules);
    clients.push(client);
    // A connection's failure is the subscription's too (its error sink), not a line on the console.
    // One subscription a client, with the id the floor's frames carry (bench/storm.ts).
    const connection = createClient({ url, webSocketImpl: socketOf(client, localAddress), lazy: false, retryAttempts: 0, onNonLazyError: () => {}, generateID: () => id });
    client.dispose = () => connection.dispose();
    connection.subscribe<ModuleStatusChangedSubscription>(
      { query: print(ModuleStatusChangedDocument), variables: { initial: true } },
      {
        next: ({ data, errors }) => {
          if (errors) client.fault(`errors: ${JSON.stringify(errors)}`);
          if (data?.moduleStatusChanged) client.take(data.moduleStatusChanged);
          check();
        },
        error: (error) => {
          const { message, code, reason } = error as { message?: string; code?: number; reason?: string };
          client.end(message ?? `closed ${code} ${reason}`);
          check();
        },
        complete: () => {
          client.end('complete');
          check();
        },
      },
    );
  }
}

function outcomesOfSlow(): ClientOutcome[] {
  return clients.filter((client) => client.slow).map((client) => client.outcome);
}

process.on('message', (command: StormCommand) => {
  if (command.type === 'subscribe') subscribe(command);
  else if (command.type === 'expect') {
    for (const client of clients) client.expect(command.final);
    // A shard of slow clients only is asked what they got once they read again.
    waitingForAll = clients.some((client) => !client.slow) ? 'delivered' : undefined;
    send({ type: 'expecting' });
  } else if (command.type === 'pause') {
    for (const client of clients.filter((each) => each.slow)) (client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    send({ type: 'paused' });
  } else if (command.type === 'resume') {
    for (const client of clients.filter((each) => each.slow)) (client.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    // What a slow client got is known once its socket is drained: its feed's end, or every final status.
    const settled = () => (clients.every((client) => !client.slow || client.finished) ? send({ type: 'resumed', clients: outcomesOfSlow() }) : setTimeout(settled, 50));
    settled();
  } else {
    for (const client of clients) void client.dispose?.();
    process.disconnect();
  }
});
