import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

type Done = (error?: Error) => void;

/**
 * The messages one WebSocket sends in one turn of the event loop written together, in one system call.
 * graphql-ws sends a subscription's next message only once the last is written: with a log line per
 * message, that write was most of a line's cost. The first message of a turn is written at once, as
 * before (a monitor's one message per change goes out unchanged); from the second on the socket is
 * corked until the turn ends. A send counts as done once the socket holds it while it holds less than
 * `highWaterBytes` (default: the socket's own high water mark, 16 KiB), past that once it is written:
 * a client that does not read holds its subscriptions back (each then drops or ends, as it is bounded)
 * and never makes berth hold more than that for it.
 *
 * Once the sockets have been sending for longer than `turnBudgetMs` (default 10 ms) in one turn, a socket's second
 * message of it completes only in the next turn, and its subscription's next message waits for it: graphql-ws sends
 * each message as soon as the last is done, so a
 * burst of changes (an engine stopping 200 containers, to 1,250 monitors) ran to its end in one turn, seconds
 * long, in which berth read no engine event, answered no request and no ping (bench m).
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
  /** performance.now() at the first send of this turn by any socket; undefined between turns. */
  static #turnStartedAt: number | undefined;

  constructor(socket: WebSocket, highWaterBytes?: number, turnBudgetMs = 10) {
    this.#socket = socket;
    this.#raw = (socket as unknown as { _socket?: Socket })._socket;
    this.#bound = highWaterBytes ?? this.#raw?.writableHighWaterMark ?? 16 * 1024;
    this.#turnBudgetMs = turnBudgetMs;
  }

  send(data: string, done: Done): void {
    const raw = this.#raw;
    if (!raw) return this.#socket.send(data, done);
    if (BatchedWrites.#turnStartedAt === undefined) {
      BatchedWrites.#turnStartedAt = performance.now();
      setImmediate(BatchedWrites.#turnEnded);
    }
    const again = this.#sentThisTurn;
    if (!again) {
      this.#sentThisTurn = true;
      setImmediate(BatchedWrites.#endTurn, this);
    } else if (raw.writableCorked === 0) {
      raw.cork();
    }
    if (this.#socket.bufferedAmount >= this.#bound) return this.#socket.send(data, done);
    this.#socket.send(data);
    // Only a socket's second message of a turn on waits: a change to thousands of monitors is one message each, and
    // holding every one's completion to the next turn kept their promise chains alive through the whole fan-out.
    if (again && performance.now() - BatchedWrites.#turnStartedAt > this.#turnBudgetMs) setImmediate(done);
    else process.nextTick(done);
  }

  static #turnEnded(): void {
    BatchedWrites.#turnStartedAt = undefined;
  }

  /** The turn is over: what it corked is written. Static, so that no socket holds a bound function of its own. */
  static #endTurn(writes: BatchedWrites): void {
    writes.#sentThisTurn = false;
    if (writes.#raw && writes.#raw.writableCorked > 0) writes.#raw.uncork();
  }
}
