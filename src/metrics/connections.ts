import type { Server } from 'node:http';
import { Gauge, type Registry } from 'prom-client';
import type { WebSocketServer } from 'ws';

/** How a subscription reaches its client: a graphql-ws socket, or an HTTP response (SSE). */
export type SubscriptionTransport = 'graphql-ws' | 'sse';

interface Listening {
  server: Server;
  sockets: WebSocketServer;
}

/** The connections and subscriptions open: connections counted when scraped, subscriptions as they open and end. */
export class ConnectionMetrics {
  readonly #listening = new Set<Listening>();
  readonly #subscriptions: Gauge<'transport'>;

  constructor(registry: Registry) {
    const listening = this.#listening;
    new Gauge({
      name: 'berth_connections_open',
      help: 'Connections open: http counts every TCP connection to the HTTP server (WebSockets included), graphql-ws the WebSockets',
      labelNames: ['transport'],
      registers: [registry],
      async collect() {
        const servers = [...listening];
        const http = await Promise.all(servers.map(({ server }) => connectionCount(server)));
        this.set({ transport: 'http' }, http.reduce((sum, count) => sum + count, 0));
        this.set({ transport: 'graphql-ws' }, servers.reduce((sum, { sockets }) => sum + sockets.clients.size, 0));
      },
    });
    this.#subscriptions = new Gauge({
      name: 'berth_subscriptions_open',
      help: 'GraphQL subscriptions open, by transport',
      labelNames: ['transport'],
      registers: [registry],
    });
    for (const transport of ['graphql-ws', 'sse'] satisfies SubscriptionTransport[]) this.#subscriptions.set({ transport }, 0);
  }

  /** Counts the server's connections from now on; answers how to stop (once it is closed). */
  follow(server: Server, sockets: WebSocketServer): () => void {
    const listening = { server, sockets };
    this.#listening.add(listening);
    return () => this.#listening.delete(listening);
  }

  /** A subscription opened; answers what to call when it ends. */
  subscriptionOpened(transport: SubscriptionTransport): () => void {
    this.#subscriptions.inc({ transport });
    return () => this.#subscriptions.dec({ transport });
  }
}

function connectionCount(server: Server): Promise<number> {
  return new Promise((resolve) => server.getConnections((error, count) => resolve(error ? 0 : count)));
}
