import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { Context, SubscribePayload } from 'graphql-ws';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Authenticator } from '../auth/authenticator.ts';
import { unauthenticatedMessage } from '../auth/auth-plugin.ts';
import { bearerToken } from '../auth/tokens.ts';
import type { BerthApp } from '../graphql/app.ts';
import type { DirectDelivery } from '../graphql/plugins/shared-subscriptions.ts';
import type { AuditLog } from '../lib/audit-log.ts';
import { serveProtocol, type SocketExtra as ProtocolExtra } from './graphql-ws-sockets.ts';
import { newConnectionId, operationRequestId } from './request-id.ts';

/** What graphql-ws keeps per socket: the socket, the client's address, and who authenticated on connect (a type, not an interface, to index like a record). */
type SocketExtra = ProtocolExtra & { token?: string | undefined; connectionId?: string; principal?: string };
type SocketContext = Context<Record<string, unknown>, SocketExtra>;

interface EnvelopedExecution {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
}

export interface GraphqlWsOptions {
  auth: Authenticator;
  /** Active subscriptions on one connection. */
  subscriptionsPerConnection: number;
  /** Where refused connections and operations are written down. */
  audit?: AuditLog | undefined;
  /** What fails unexpectedly on a socket (which is then closed, 1011). */
  onError: (error: unknown) => void;
}

/**
 * graphql-ws on the sockets, each operation run through yoga's envelop: the same plugins, context and
 * error masking as HTTP. Tokens are checked on connect and on every operation; when the tokens file
 * drops a token, its sockets are closed (4403).
 */
export function serveGraphqlWs(app: BerthApp, sockets: WebSocketServer, { auth, subscriptionsPerConnection, audit, onError }: GraphqlWsOptions): { dispose(): Promise<void> } {
  // The principal a revoked token had on connect: its operations refused since are written under its name.
  const refused = (extra: Partial<SocketExtra>, operation: string, requestId: string | undefined) =>
    audit?.write({ principal: extra.principal ?? null, operation, outcome: 'UNAUTHENTICATED', durationMs: 0, requestId, details: { address: extra.address } });
  const authenticated = new Map<WebSocket, string | undefined>();
  const stopWatchingTokens = auth.onChange(() => {
    for (const [socket, token] of authenticated) if (!auth.authenticate(token)) socket.close(4403, 'Forbidden');
  });
  const server = serveProtocol<SocketExtra>(
    {
      // connectionParams.authorization: the token, bare or as "Bearer <token>". Refused: close 4403.
      onConnect: (context) => {
        const presented = context.connectionParams?.authorization;
        const token = typeof presented === 'string' ? (bearerToken(presented) ?? presented) : undefined;
        context.extra.connectionId = newConnectionId();
        const principal = auth.authenticate(token);
        if (!principal) {
          refused(context.extra, 'graphql-ws connect', context.extra.connectionId);
          return false;
        }
        context.extra.token = token;
        context.extra.principal = principal.name;
        authenticated.set(context.extra.socket, token);
        return true;
      },
      // graphql-ws itself closes 4401 a socket that subscribes before connection_init: refused for want of a token.
      onClose: ({ extra }, code) => {
        authenticated.delete(extra.socket);
        if (code === 4401) refused({ address: extra.address }, 'graphql-ws subscribe', undefined);
      },
      execute: (args) => (args.rootValue as EnvelopedExecution).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedExecution).subscribe(args) as never,
      onSubscribe: async (context, id, payload) => {
        const requestId = operationRequestId(context.extra.connectionId ?? '?', id);
        // Each operation is authorised anew: a token removed from the tokens file stops working on open sockets too.
        const principal = auth.authenticate(context.extra.token);
        if (!principal) {
          refused(context.extra, 'graphql-ws subscribe', requestId);
          context.extra.socket.close(4403, 'Forbidden');
          return [new GraphQLError(unauthenticatedMessage, { extensions: { code: 'UNAUTHENTICATED' } })];
        }
        // graphql-ws has already reserved this id among the subscriptions.
        if (Object.keys(context.subscriptions).length > subscriptionsPerConnection) {
          return [new GraphQLError(`at most ${subscriptionsPerConnection} subscriptions may be active on one connection`, { extensions: { code: 'TOO_MANY_SUBSCRIPTIONS' } })];
        }
        return envelopedArgs(app, context, { id, payload }, principal, requestId);
      },
    },
    sockets,
    { extraOf: (socket, address, frames) => ({ socket, address, frames }), onError },
  );
  return {
    async dispose() {
      stopWatchingTokens();
      await server.dispose();
    },
  };
}

/** The operation's execution arguments from yoga's envelop, or the errors that answer it. */
async function envelopedArgs(app: BerthApp, context: SocketContext, { id, payload }: { id: string; payload: SubscribePayload }, principal: unknown, requestId: string): Promise<ExecutionArgs | readonly GraphQLError[]> {
  // Only what the operation's context reads: it lives as long as the subscription, one per monitor.
  const { schema, execute, subscribe, contextFactory, parse, validate } = app.getEnveloped({
    socket: context.extra.socket,
    direct: { id, frames: context.extra.frames } satisfies DirectDelivery,
    params: payload,
    principal,
    requestId,
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
}
