import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * The messages one WebSocket sends in one turn of the event loop written together, in one system call.
 * graphql-ws sends a subscription's next message only once the last is written: with a log line per
 * message, that write was most of a line's cost. The first message of a turn is written at once, as
 * before (a monitor's one message per change goes out unchanged); from the second on the socket is
 * corked until the turn ends. A send counts as done once the socket holds it while it holds less than
 * `highWaterBytes` (default: the socket's own high water mark, 16 KiB), past that once it is written:
 * a client that does not read holds its subscriptions back (each then drops or ends, as it is bounded)
 * and never makes berth hold more than that for it.
 */
export function batchWrites(socket: WebSocket, highWaterBytes?: number): void {
  const raw = (socket as unknown as { _socket?: Socket })._socket;
  if (!raw) return;
  const bound = highWaterBytes ?? raw.writableHighWaterMark;
  const send = socket.send.bind(socket) as (data: unknown, options: object, callback?: (error?: Error) => void) => void;
  let sentThisTurn = false;
  const endTurn = () => {
    sentThisTurn = false;
    if (raw.writableCorked > 0) raw.uncork();
  };
  socket.send = ((data: unknown, options?: object | ((error?: Error) => void), callback?: (error?: Error) => void) => {
    const done = typeof options === 'function' ? (options as (error?: Error) => void) : callback;
    const sendOptions = typeof options === 'object' ? options : {};
    if (!sentThisTurn) {
      sentThisTurn = true;
      setImmediate(endTurn);
    } else if (raw.writableCorked === 0) {
      raw.cork();
    }
    if (!done || socket.bufferedAmount >= bound) return send(data, sendOptions, done);
    send(data, sendOptions);
    process.nextTick(done);
  }) as WebSocket['send'];
}
