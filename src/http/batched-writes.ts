import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

type Done = (error?: Error) => void;

/**
 * The messages one WebSocket sends in one turn of the event loop written together, in one system call.
 * The first message of a turn is written at once (a monitor's one message per change goes out unchanged);
 * from the second on the socket is corked until the turn ends. Two kinds of message:
 *
 * - `send`, graphql-ws's own, which sends a subscription's next message only once the last is done: with a log
 *   line per message, that write was most of a line's cost. A send counts as done once the socket holds it while
 *   it holds less than `highWaterBytes` (default: the socket's own high water mark, 64 KiB on Node 24), past
 *   that once it is written.
 * - `write`, a subscription's event delivered straight to the socket (shared-subscriptions.ts), which nobody
 *   waits on: it answers whether the socket takes more now, and `whenDrained` says when it does again.
 *
 * Either way a client that does not read holds its subscriptions back (each then drops or ends, as it is bounded)
 * and never makes berth hold much more than the bound for it.
 *
 * Once the sockets have been sending for longer than `turnBudgetMs` (default 10 ms) in one turn, the rest waits for
 * the next turn: a socket's second send of the turn on completes only then, and every write answers that the socket
 * takes no more (it still goes: a change's one message to each monitor is never held). A burst of changes (an engine stopping 200 containers, to 1,250 monitors) had run to its end in one
 * turn, seconds long, in which berth read no engine event, answered no request and no ping (bench m).
 *
 * An object with methods rather than closures: one is held per connection, and at 10,000 monitors a
 * closure each counts.
 */
export class BatchedWrites {
  readonly #socket: WebSocket;
  readonly #raw: Socket | undefined;
  readonly #bound: number;
  readonly #turnBudgetMs: number;
  #sentThisTurn = false;
  /** What waits for the socket to drain (whenDrained). */
  readonly #drainWaiters: { resume(): void }[] = [];
  /** performance.now() at the first send of this turn by any socket; undefined between turns. */
  static #turnStartedAt: number | undefined;
  /** The sockets that have sent in this turn. */
  static #sentThisTurnBy: BatchedWrites[] = [];

  constructor(socket: WebSocket, highWaterBytes?: number, turnBudgetMs = 10) {
    this.#socket = socket;
    this.#raw = (socket as unknown as { _socket?: Socket })._socket;
    this.#bound = highWaterBytes ?? this.#raw?.writableHighWaterMark ?? 16 * 1024;
    this.#turnBudgetMs = turnBudgetMs;
  }

  send(data: string, done: Done): void {
    const raw = this.#raw;
    if (!raw) return this.#socket.send(data, done);
    const again = this.#turnFor(raw);
    if (this.#socket.bufferedAmount >= this.#bound) return this.#socket.send(data, done);
    this.#socket.send(data);
    // Only a socket's second message of a turn on waits: a change to thousands of monitors is one message each, and
    // holding every one's completion to the next turn kept their promise chains alive through the whole fan-out.
    if (again && this.#pastBudget()) setImmediate(done);
    else process.nextTick(done);
  }

  /**
   * A message nobody waits on (a subscription's event written straight to the socket), batched like the others:
   * answers whether the socket takes more now: it holds less than `highWaterBytes`, and the turn is within its
   * budget. Past the budget the message still goes (a change's one message to each monitor is never held), but
   * what follows waits for whenDrained.
   */
  write(data: string): boolean {
    const raw = this.#raw;
    if (!raw) {
      this.#socket.send(data);
      return true;
    }
    this.#turnFor(raw);
    this.#socket.send(data);
    return this.#socket.bufferedAmount < this.#bound && !this.#pastBudget();
  }

  /**
   * Calls `drained.resume()` once the socket takes more: when it has written what it holds, or in the next turn
   * when it will not say so (it took no more only for the turn's budget, or holds less than its own high water
   * mark under a lower bound given here). Only in a turn with budget left, and with the socket corked for the
   * rest of the turn: what its subscription held meanwhile goes out in one write. In a storm that is what keeps
   * the system calls down, a socket's backlog in one rather than one a message.
   */
  whenDrained(drained: { resume(): void }): void {
    const raw = this.#raw;
    if (!raw?.writableNeedDrain) {
      setImmediate(BatchedWrites.#resume, this, drained);
      return;
    }
    if (this.#drainWaiters.length === 0) raw.once('drain', () => this.#drained());
    this.#drainWaiters.push(drained);
  }

  #drained(): void {
    for (const drained of this.#drainWaiters.splice(0)) BatchedWrites.#resume(this, drained);
  }

  static #resume(writes: BatchedWrites, drained: { resume(): void }): void {
    const raw = writes.#raw;
    if (raw && writes.#pastBudget()) {
      setImmediate(BatchedWrites.#resume, writes, drained);
      return;
    }
    if (raw) {
      writes.#turnFor(raw);
      if (raw.writableCorked === 0) raw.cork();
    }
    drained.resume();
  }

  /** Whether the sockets have sent for longer than the budget in this turn. */
  #pastBudget(): boolean {
    const startedAt = BatchedWrites.#turnStartedAt;
    return startedAt !== undefined && performance.now() - startedAt > this.#turnBudgetMs;
  }

  /** Starts the turn's clock and corks the socket from its second message of the turn on; answers whether this is one of those. */
  #turnFor(raw: Socket): boolean {
    if (BatchedWrites.#turnStartedAt === undefined) {
      BatchedWrites.#turnStartedAt = performance.now();
      setImmediate(BatchedWrites.#turnEnded);
    }
    const again = this.#sentThisTurn;
    if (!again) {
      this.#sentThisTurn = true;
      BatchedWrites.#sentThisTurnBy.push(this);
    } else if (raw.writableCorked === 0) {
      raw.cork();
    }
    return again;
  }

  /**
   * The turn is over: what each socket corked is written. One callback for all the sockets that sent in the turn, not
   * one each: a change to a thousand monitors made a thousand of them.
   */
  static #turnEnded(): void {
    BatchedWrites.#turnStartedAt = undefined;
    const sent = BatchedWrites.#sentThisTurnBy;
    BatchedWrites.#sentThisTurnBy = [];
    for (const writes of sent) writes.#sentThisTurn = false;
    // Each socket is uncorked, whichever of them throws.
    let failure: unknown;
    for (const writes of sent) {
      try {
        if (writes.#raw && writes.#raw.writableCorked > 0) writes.#raw.uncork();
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
