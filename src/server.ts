import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { BerthApp } from './app.ts';

export interface RunningServer {
  server: Server;
  /** The GraphQL endpoint, such as http://127.0.0.1:4000/graphql; graphql-ws answers on the same path. */
  url: string;
  close(): Promise<void>;
}

interface EnvelopedExecution {
  execute: (args: ExecutionArgs) => unknown;
  subscribe: (args: ExecutionArgs) => unknown;
}

export interface ListenOptions {
  host: string;
  port: number;
  /** Errors of the listening server; default: written to stderr. */
  onError?: (error: Error) => void;
}

export async function listen(
  app: BerthApp,
  { host, port, onError = (error) => process.stderr.write(`berth: server error: ${error.message}\n`) }: ListenOptions,
): Promise<RunningServer> {
  const server = createServer((request, response) => void app(request, response));
  const sockets = new WebSocketServer({ server, path: app.graphqlEndpoint });
  const graphqlWs = useServer<Record<string, unknown>, { request: unknown; socket: unknown }>(
    {
      // graphql-ws runs each operation through yoga's envelop: the same plugins, context and error masking as HTTP.
      execute: (args) => (args.rootValue as EnvelopedExecution).execute(args) as never,
      subscribe: (args) => (args.rootValue as EnvelopedExecution).subscribe(args) as never,
      onSubscribe: async (context, _id, payload) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = app.getEnveloped({
          ...context,
          req: context.extra.request,
          socket: context.extra.socket,
          params: payload,
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
      await graphqlWs.dispose();
      await new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      });
    },
  };
}
