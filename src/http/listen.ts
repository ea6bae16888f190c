import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BerthApp } from '../graphql/app.ts';
import { noAuthentication, type Authenticator } from '../auth/authenticator.ts';
import { isLoopbackHostHeader, unauthenticatedMessage } from '../auth/auth-plugin.ts';
import { bearerToken } from '../auth/tokens.ts';

export interface RunningServer {
  server: Server;
  /** The GraphQL endpoint, such as http://127.0.0.1:4000/graphql; graphql-ws answers on the same path. */
  url: string;
  close(): Promise<void>;
}

/** What graphql-ws keeps per socket: the upgrade request, and who authenticated on connect (a type, not an interface, to index like a record). */
type SocketExtra = { readonly socket: WebSocket; readonly request: IncomingMessage; token?: string | undefined };

interface EnvelopedExecution {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
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
  };
  /** Errors of the listening server; default: written to stderr. */
  onError?: (error: Error) => void;
}

export async function listen(
  app: BerthApp,
  { host, port, auth = noAuthentication, loopbackHostOnly = false, limits = {}, onError = (error) => process.stderr.write(`berth: server error: ${error.message}\n`) }: ListenOptions,
): Promise<RunningServer> {
  const { connections = 4096, subscriptionsPerConnection = 100 } = limits;
  const server = createServer((request, response) => void app(request, response));
  // Past this many open sockets the server accepts no more; those open are not disturbed.
  server.maxConnections = connections;
  const sockets = new WebSocketServer({
    server,
    path: app.graphqlEndpoint,
    // A browser page elsewhere may not open a socket here (cross-site WebSocket hijacking): a
    // browser's Origin must be berth's own host. Clients that are not browsers send no Origin.
    verifyClient: ({ origin, req }: { origin: string | undefined; req: IncomingMessage }) =>
      (!loopbackHostOnly || isLoopbackHostHeader(req.headers.host)) && (!origin || originHost(origin) === req.headers.host?.toLowerCase()),
  });
  // Open sockets and their tokens: when the tokens file drops a token, its sockets are closed (4403).
  const authenticated = new Map<WebSocket, string | undefined>();
  const stopWatchingTokens = auth.onChange(() => {
    for (const [socket, token] of authenticated) if (!auth.authenticate(token)) socket.close(4403, 'Forbidden');
  });
  const graphqlWs = useServer<Record<string, unknown>, SocketExtra>(
    {
      // connectionParams.authorization: the token, bare or as "Bearer <token>". Refused: close 4403.
      onConnect: (context) => {
        const presented = context.connectionParams?.authorization;
        const token = typeof presented === 'string' ? (bearerToken(presented) ?? presented) : undefined;
        if (!auth.authenticate(token)) return false;
        context.extra.token = token;
        authenticated.set(context.extra.socket, token);
        context.extra.socket.once('close', () => authenticated.delete(context.extra.socket));
        return true;
      },
      // graphql-ws runs each operation through yoga's envelop: the same plugins, context and error masking as HTTP.
      execute: (args) => (args.rootValue as EnvelopedExecution).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedExecution).subscribe(args) as never,
      onSubscribe: async (context, _id, payload) => {
        // Each operation is authorised anew: a token removed from the tokens file stops working on open sockets too.
        const principal = auth.authenticate(context.extra.token);
        if (!principal) {
          context.extra.socket.close(4403, 'Forbidden');
          return [new GraphQLError(unauthenticatedMessage, { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        // graphql-ws has already reserved this id among the subscriptions.
        if (Object.keys(context.subscriptions).length > subscriptionsPerConnection) {
          return [new GraphQLError(`at most ${subscriptionsPerConnection} subscriptions may be active on one connection`, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } })];
        }
        const { schema, execute, subscribe, contextFactory, parse, validate } = app.getEnveloped({
          ...context,
          req: context.extra.request,
          socket: context.extra.socket,
          params: payload,
          principal,
        });
        // A syntax error answers this one operation; thrown, it would close the client's whole socket.
        let document: ReturnType<typeof parse>;
        try {
          document = parse(payload.query);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError((error as Error).message)];
        }
        const args = {
          schema,
          operationName: payload.operationName,
          document,
          variableValues: payload.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedExecution,
        };
        const errors = validate(args.schema, args.document);
        return errors.length > 0 ? errors : args;
      },
    },
    sockets,
  );

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Once listening, a failed accept (say EMFILE) is logged, never a crash, and never closes the other clients.
  server.on('error', (error) => onError(error));
  sockets.on('error', (error) => onError(error));
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    url: `http://${shownHost}:${address.port}${app.graphqlEndpoint}`,
    async close() {
      stopWatchingTokens();
      await graphqlWs.dispose();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}

function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return undefined;
  }
}
