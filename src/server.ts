import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BerthApp } from './app.ts';

export interface RunningServer {
  server: Server;
  /** The GraphQL endpoint, such as http://127.0.0.1:4000/graphql. */
  url: string;
  close(): Promise<void>;
}

export async function listen(app: BerthApp, { host, port }: { host: string; port: number }): Promise<RunningServer> {
  const server = createServer((request, response) => void app(request, response));
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
    url: `http://${shownHost}:${address.port}/graphql`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}
