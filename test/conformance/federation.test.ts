import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createGatewayRuntime, getGraphQLWSOptions, type GatewayRuntime } from '@graphql-hive/gateway-runtime';
import { composeServices, compositionHasErrors } from '@theguild/federation-composition';
import { parse, print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import { useServer, type Extra } from 'graphql-ws/use/ws';
import { createYoga } from 'graphql-yoga';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { ModuleStatusChangedDocument, type ModuleStatusChangedSubscription } from '../generated/operations.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from '../integration/harness.ts';

// A peer subgraph of the platform that extends berth's Module by its key.
const ownersSdl = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
  type Module @key(fields: "name") {
    name: String!
    owner: String!
  }
`;

/** A fetch-style handler (yoga, the gateway) on a free port. */
async function serve(handler: (request: IncomingMessage, response: ServerResponse) => unknown): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => void handler(request, response));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` };
}

const close = (server: Server | undefined) => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

describe('as a Federation v2 subgraph', () => {
  let berth: Harness;
  let berthServer: RunningServer;
  let owners: { server: Server; url: string };
  let gateway: GatewayRuntime;
  let gatewayServer: { server: Server; url: string };
  let gatewayClient: Client;

  beforeAll(async () => {
    berth = createHarness(`modules:
  web:
    kind: web{{run}}
    image: ${testImage}
  manual:
    kind: manual{{run}}
    image: ${testImage}
    autostart: false
`);
    await berth.ready();
    berthServer = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    const ownersSchema = buildSubgraphSchema({
      typeDefs: parse(ownersSdl),
      resolvers: { Module: { __resolveReference: ({ name }: { name: string }) => ({ name, owner: `team-${name}` }) } },
    });
    owners = await serve(createYoga({ schema: ownersSchema, logging: false }));
  });
  afterAll(async () => {
    await gatewayClient?.dispose();
    await gateway?.dispose();
    await close(gatewayServer?.server);
    await close(owners?.server);
    await berthServer?.close();
    await berth?.cleanup();
  });

  it('serves its SDL with @link to Federation v2 and Module keyed by name', async () => {
    const { data } = await berth.gql<{ _service: { sdl: string } }>('{ _service { sdl } }');
    expect(data?._service.sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])');
    expect(data?._service.sdl).toMatch(/type Module\s+@key\(fields: "name"\)/);
  });

  it('resolves Module references from the state store, and names an unknown one', async () => {
    await waitFor(async () => (await berth.gql('{ module(name: "web") { status } }')).data?.module.status === 'RUNNING', 'web running');
    const { data } = await berth.gql<{ _entities: { name: string; status: string }[] }>(
      'query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Module { name status } } }',
      { representations: [{ __typename: 'Module', name: 'web' }, { __typename: 'Module', name: 'manual' }] },
    );
    expect(data?._entities).toEqual([
      { name: 'web', status: 'RUNNING' },
      { name: 'manual', status: 'NOT_CREATED' },
    ]);
    const unknown = await berth.gql('{ _entities(representations: [{ __typename: "Module", name: "nope" }]) { ... on Module { status } } }');
    expect(unknown.errors?.[0]?.extensions?.code).toBe('MODULE_NOT_FOUND');
  });

  it('composes with a peer subgraph, and Hive Gateway joins both in one query', async () => {
    const berthSdl = (await berth.gql<{ _service: { sdl: string } }>('{ _service { sdl } }')).data!._service.sdl;
    const composition = composeServices([
      { name: 'berth', url: berthServer.url, typeDefs: parse(berthSdl) },
      { name: 'owners', url: owners.url, typeDefs: parse(ownersSdl) },
    ]);
    if (compositionHasErrors(composition)) throw new AggregateError(composition.errors, composition.errors.map((error) => error.message).join('\n'));
    gateway = createGatewayRuntime({
      supergraph: composition.supergraphSdl,
      logging: false,
      // Subscriptions reach berth over graphql-ws on its /graphql path.
      transportEntries: { berth: { options: { subscriptions: { kind: 'ws', location: '/graphql' } } } },
    });
    gatewayServer = await serve(gateway);
    const sockets = new WebSocketServer({ server: gatewayServer.server, path: '/graphql' });
    useServer(getGraphQLWSOptions<Record<string, unknown>, Extra>(gateway, (context) => ({ req: context.extra.request, socket: context.extra.socket })), sockets);

    const response = await fetch(gatewayServer.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ modules { name status owner } }' }),
    });
    const result = (await response.json()) as { data?: { modules: { name: string; status: string; owner: string }[] }; errors?: unknown[] };
    expect(result.errors).toBeUndefined();
    expect(result.data?.modules).toEqual([
      { name: 'web', status: 'RUNNING', owner: 'team-web' },
      { name: 'manual', status: 'NOT_CREATED', owner: 'team-manual' },
    ]);
  });

  it('delivers, through the gateway, a status change made by a real container', async () => {
    gatewayClient = createClient({ url: gatewayServer.url.replace('http', 'ws'), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
    const received: string[] = [];
    const errors: unknown[] = [];
    gatewayClient.subscribe<ModuleStatusChangedSubscription>(
      { query: print(ModuleStatusChangedDocument), variables: { names: ['web'], initial: true } },
      {
        next: ({ data }) => data && received.push(`${data.moduleStatusChanged.previous}>${data.moduleStatusChanged.status}`),
        error: (error) => errors.push(error),
        complete: () => {},
      },
    );
    await waitFor(() => received.includes('null>RUNNING'), 'the opening snapshot through the gateway');
    const { containerId } = (await berth.gql('{ module(name: "web") { containerId } }')).data!.module;
    await docker.getContainer(containerId).stop({ t: 0 });
    await waitFor(() => received.includes('RUNNING>EXITED'), 'the outside stop through the gateway');
    expect(errors).toEqual([]);
  });
});
