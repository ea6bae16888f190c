import { CloseCode, handleProtocols, makeServer, type ServerOptions, type WebSocket as ProtocolSocket } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { FrameSink } from '../graphql/plugins/shared-subscriptions.ts';
import { BatchedWrites } from './batched-writes.ts';

/**
 * What graphql-ws keeps per socket: the socket and the client's address. Not the upgrade request, which
 * graphql-ws's own binding keeps for the connection's life: with its headers and streams, that was a
 * tenth of what a monitor's connection held.
 */
export interface SocketExtra {
  readonly socket: WebSocket;
  readonly address: string | undefined;
  /** The socket's writes, for subscription events written straight to it beside graphql-ws's own messages. */
  readonly frames: FrameSink;
}

type OnError = (error: unknown) => void;

export interface ProtocolSockets<E> {
  /** graphql-ws's `extra` of a new socket. */
  extraOf: (socket: WebSocket, address: string | undefined, frames: FrameSink) => E;
  /** What fails unexpectedly on a socket, which is then closed (1011). */
  onError: OnError;
  /** How often each socket is pinged, and how long it has to answer; default 12 s, graphql-ws's own. */
  keepAliveMs?: number;
}

/**
 * graphql-ws's protocol (makeServer) on the sockets of a `ws` server, as graphql-ws/use/ws binds it, held
 * leaner per connection, since a platform's monitors hold thousands: one sweep pings every socket and
 * ends those that did not answer the last ping (rather than two timers a socket); each socket's side of
 * the protocol is an object with methods, found by its socket from listeners shared by all (rather than
 * closures and `once` wrappers a socket); its writes are batched (BatchedWrites); and an incoming message
 * is handed on without an async frame held while its subscription lasts.
 */
export function serveProtocol<E extends SocketExtra>(
  options: ServerOptions<Record<string, unknown>, E>,
  sockets: WebSocketServer,
  { extraOf, onError, keepAliveMs = 12_000 }: ProtocolSockets<E>,
): { dispose(): Promise<void> } {
  const server = makeServer(options);
  sockets.options.handleProtocols = handleProtocols;
  const links = new Map<WebSocket, ProtocolLink>();
  const unanswered = new Set<WebSocket>();
  const sweep = setInterval(() => {
    for (const socket of links.keys()) {
      if (unanswered.has(socket)) socket.terminate();
      else if (socket.readyState === socket.OPEN) {
        unanswered.add(socket);
        socket.ping();
      }
    }
  }, keepAliveMs).unref();
  const listeners = {
    pong(this: WebSocket) {
      unanswered.delete(this);
    },
    message(this: WebSocket, data: unknown) {
      links.get(this)?.received(String(data));
    },
    error(this: WebSocket, error: Error) {
      onError(error);
      this.close(CloseCode.InternalServerError, 'Internal server error');
    },
    close(this: WebSocket, code: number, reason: Buffer) {
      const link = links.get(this);
      links.delete(this);
      unanswered.delete(this);
      link?.closed(code, String(reason)).catch(onError);
    },
  };
  sockets.on('connection', (socket, request) => {
    const link = new ProtocolLink(socket, onError);
    links.set(socket, link);
    for (const [event, listener] of Object.entries(listeners)) socket.on(event, listener);
    link.closed = server.opened(link, extraOf(socket, request.socket.remoteAddress, link));
  });
  return {
    async dispose() {
      clearInterval(sweep);
      for (const client of sockets.clients) client.close(1001, 'Going away');
      sockets.removeAllListeners();
      await new Promise<void>((resolve, reject) => sockets.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

/** The socket as graphql-ws's protocol speaks to it, and as subscriptions write their events to it. */
class ProtocolLink implements ProtocolSocket, FrameSink {
  readonly #socket: WebSocket;
  readonly #writes: BatchedWrites;
  readonly #onError: OnError;
  #handle: ((data: string) => Promise<void>) | undefined;
  /** What the protocol does when the socket closes. */
  closed: (code: number, reason: string) => Promise<void> = async () => {};

  constructor(socket: WebSocket, onError: OnError) {
    this.#socket = socket;
    this.#writes = new BatchedWrites(socket);
    this.#onError = onError;
  }

  get protocol(): string {
    return this.#socket.protocol;
  }

  send(data: string): Promise<void> {
    if (this.#socket.readyState !== this.#socket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => this.#writes.send(data, (error) => (error ? reject(error) : resolve())));
  }

  close(code: number, reason: string): void {
    this.#socket.close(code, reason);
  }

  write(frame: string): boolean {
    return this.#socket.readyState !== this.#socket.OPEN || this.#writes.write(frame);
  }

  whenDrained(drained: { resume(): void }): void {
    this.#writes.whenDrained(drained);
  }

  onMessage(handle: (data: string) => Promise<void>): void {
    this.#handle = handle;
  }

  /** A message the protocol fails on unexpectedly is logged and ends the socket, as graphql-ws's binding does. */
  received(data: string): void {
    this.#handle?.(data).catch((error: unknown) => {
      this.#onError(error);
      this.#socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
  }
}
