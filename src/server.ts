import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionArgs } from 'graphql';
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

export async function listen(app: BerthApp, { host, port }: { host: string; port: number }): Promise<RunningServer> {
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
        const args = {
          schema,
          operationName: payload.operationName,
          document: parse(payload.query),
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
