// The subscribers of bench/subscribers.ts as their driver sees them: child processes, commands, replies.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StatusChange, SubscribersCommand, SubscribersReport } from './subscribers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The command run with the soft limit of open files raised to the hard one: 10,000 connections
 * need more than the usual 1,024 in berth, its floor and the subscribers.
 */
export function withOpenFileLimit([program, args]: [string, string[]]): [string, string[]] {
  return ['sh', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', program, ...args]];
}

/** What a subscriber process reports: each its own type, and `failed` with why. */
type Report = { type: string } & ({ type: 'failed'; message: string } | object);

/**
 * One process of graphql-ws subscribers of one berth, driven over IPC: bench/subscribers.ts by default,
 * or another file that speaks its own commands and reports (bench/storm-subscribers.ts).
 */
export class Subscribers<Command = SubscribersCommand, Reports extends Report = SubscribersReport> {
  readonly #child: ChildProcess;

  constructor(file = 'bench/subscribers.ts') {
    const [program, args] = withOpenFileLimit([process.execPath, [...process.execArgv, join(root, file)]]);
    this.#child = spawn(program, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  send(command: Command | { type: 'close' }): void {
    this.#child.send(command as object);
  }

  async reply<T extends Reports['type']>(type: T): Promise<Extract<Reports, { type: T }>> {
    const [report] = (await once(this.#child, 'message')) as [Reports];
    if (report.type === 'failed') throw new Error(`subscriber failed: ${(report as { message?: string }).message}`);
    if (report.type !== type) throw new Error(`expected ${type} from the subscribers, got ${report.type}`);
    return report as Extract<Reports, { type: T }>;
  }

  close(): void {
    if (this.#child.connected) this.send({ type: 'close' });
  }
}

/** Subscribers one process holds at most; more are spread over several, each from its own 127.0.0.x address. */
const perProcess = 2500;
/** Subscribers a shard connects at once. */
const step = 250;

/** Subscribers sharded over processes, seen as one: a delivery is all the shards' arrival times. */
export class SubscriberShards {
  readonly #shards: Subscribers[] = [];
  readonly #counts: number[] = [];

  /**
   * Up to `count` subscribers of `module` at `url`; those already there stay. They connect 250 at a
   * time, one shard after the other: thousands of handshakes at once overflow the server's accept backlog.
   */
  async subscribe(url: string, count: number, module: string): Promise<void> {
    while (this.#shards.length < Math.ceil(count / perProcess)) {
      this.#shards.push(new Subscribers());
      this.#counts.push(0);
    }
    for (const [index, shard] of this.#shards.entries()) {
      const share = Math.min(perProcess, Math.max(0, count - index * perProcess));
      while (this.#counts[index]! < share) {
        const target = Math.min(share, this.#counts[index]! + step);
        shard.send({ type: 'subscribe', url, count: target, module, localAddress: `127.0.0.${2 + index}` });
        await shard.reply('subscribed');
        this.#counts[index] = target;
      }
    }
  }

  /**
   * Once every shard waits for the change to `status` (so a change triggered now cannot come first):
   * the arrival times of that change at every subscriber, once all have it.
   */
  async expect(status: string): Promise<{ arrived: Promise<{ times: number[]; change: StatusChange }> }> {
    const held = this.#shards.filter((_, index) => this.#counts[index]! > 0);
    for (const shard of held) shard.send({ type: 'expect', status, ack: true });
    await Promise.all(held.map((shard) => shard.reply('expecting')));
    const arrived = Promise.all(held.map((shard) => shard.reply('arrived')));
    return { arrived: arrived.then((replies) => ({ times: replies.flatMap((reply) => reply.times), change: replies[0]!.change })) };
  }

  close(): void {
    for (const shard of this.#shards) shard.close();
  }
}
