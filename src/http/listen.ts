import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { BerthApp } from '../graphql/app.ts';
import { noAuthentication, type Authenticator } from '../auth/authenticator.ts';
import { isLoopbackHostHeader } from '../auth/auth-plugin.ts';
import type { AuditLog } from '../lib/audit-log.ts';
import type { ConnectionMetrics } from '../metrics/connections.ts';
import { serveGraphqlWs } from './graphql-ws.ts';
import { keptAnswers } from './kept-answers.ts';
import type { KeptResponses } from '../graphql/plugins/kept-responses.ts';

export interface RunningServer {
  server: Server;
  /** The GraphQL endpoint, such as http://127.0.0.1:4000/graphql; graphql-ws answers on the same path. */
  url: string;
  close(): Promise<void>;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Who may open a graphql-ws connection; default nobody is checked. */
  auth?: Authenticator;
  /** Accept only WebSockets addressed to localhost (authentication off on loopback); default false. */
  loopbackHostOnly?: boolean;
  limits?: {
    /** Open TCP connections, HTTP and graphql-ws together. */
    connections?: number;
    /** Active subscriptions on one graphql-ws connection. */
    subscriptionsPerConnection?: number;
    /** The app's request body limit, in bytes (default 100,000): a larger body is left to the app, which refuses it. */
    bodyBytes?: number;
  };
  /** The app's kept answers (createBerthApp's `kept`), served here before the app; default none, every request to the app. */
  kept?: KeptResponses;
  /** Where refused graphql-ws connections are written down (HTTP's are the app's). */
  audit?: AuditLog;
  /** Where the connections open are counted (BerthMetrics.connections); default nowhere. */
  metrics?: ConnectionMetrics;
  /** Errors of the listening server; default: written to stderr. */
  onError?: (error: Error) => void;
}

export async function listen(
  app: BerthApp,
  { host, port, auth = noAuthentication, loopbackHostOnly = false, limits = {}, audit, metrics, kept, onError = (error) => process.stderr.write(`berth: server error: ${error.message}\n`) }: ListenOptions,
): Promise<RunningServer> {
  const { connections = 4096, subscriptionsPerConnection = 100, bodyBytes = 100_000 } = limits;
  const toApp = (request: IncomingMessage, response: ServerResponse) => void app(request, response);
  const answerKept = kept && keptAnswers(kept, app.graphqlEndpoint, { auth, loopbackHostOnly, maxBodyBytes: bodyBytes });
  const server = createServer(answerKept ? (request, response) => answerKept(request, response, () => toApp(request, response)) : toApp);
  // Past this many open sockets the server accepts no more; those open are not disturbed.
  server.maxConnections = connections;
  const sockets = new WebSocketServer({ server, path: app.graphqlEndpoint, verifyClient: auditedRefusal(sameOriginClient(loopbackHostOnly), audit) });
  const graphqlWs = serveGraphqlWs(app, sockets, { auth, subscriptionsPerConnection, audit, onError: (error) => onError(error instanceof Error ? error : new Error(String(error))) });
  // ws hands on every error of the HTTP server: one in listening (EADDRINUSE) rejects listen() below, not thrown here.
  let listened = false;
  sockets.on('error', (error) => listened && onError(error));
  await listening(server, host, port);
  listened = true;
  const unfollow = metrics?.follow(server, sockets);
  // Once listening, a failed accept (say EMFILE) is logged, never a crash, and never closes the other clients.
  server.on('error', (error) => onError(error));
  return {
    server,
    url: endpointUrl(server, app.graphqlEndpoint),
    async close() {
      unfollow?.();
      await graphqlWs.dispose();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}

/**
 * A browser page elsewhere may not open a socket here (cross-site WebSocket hijacking): a browser's
 * Origin must be berth's own host. Clients that are not browsers send no Origin.
 */
function sameOriginClient(loopbackHostOnly: boolean) {
  return ({ origin, req }: { origin: string | undefined; req: IncomingMessage }) =>
    (!loopbackHostOnly || isLoopbackHostHeader(req.headers.host)) && (!origin || originHost(origin) === req.headers.host?.toLowerCase());
}

/** A WebSocket refused at its upgrade (a foreign Origin or Host) writes its audit line. */
function auditedRefusal(verify: ReturnType<typeof sameOriginClient>, audit: AuditLog | undefined): ReturnType<typeof sameOriginClient> {
  return (info) => {
    if (verify(info)) return true;
    const { origin, req } = info;
    audit?.write({ principal: null, operation: 'graphql-ws upgrade', outcome: 'FORBIDDEN', durationMs: 0, details: { address: req.socket.remoteAddress, host: req.headers.host, origin } });
    return false;
  };
}

function listening(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function endpointUrl(server: Server, path: string): string {
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${shownHost}:${address.port}${path}`;
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}
