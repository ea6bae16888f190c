import { createClient, type Client } from 'graphql-ws';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { BerthMetrics } from '../../src/metrics/berth-metrics.ts';
import { localFleet, moduleSpec, until } from './fake-engine.ts';

const logger = pino({ level: 'silent' });

/** berth's app on a socket, over one engine with `web`, and a graphql-ws client of it. */
async function serve() {
  const { engine, modules, fleet } = await localFleet(moduleSpec('web'));
  const metrics = new BerthMetrics();
  const app = createBerthApp({ modules: fleet, logger, metrics });
  const server = await listen(app, { host: '127.0.0.1', port: 0, metrics: metrics.connections });
  const client = createClient({ url: server.url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  const open = async () => {
    const text = await metrics.text();
    return Number(/^berth_subscriptions_open\{transport="graphql-ws"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };
  return { engine, modules, server, client, open };
}

/** Every message of a subscription, as the client gets them, and whether it completed. */
function follow(client: Client, query: string) {
  const received: unknown[] = [];
  const state = { completed: false, error: undefined as unknown };
  const unsubscribe = client.subscribe({ query }, { next: (message) => void received.push(message), error: (error) => (state.error = error), complete: () => (state.completed = true) });
  return { received, state, unsubscribe };
}

describe('subscriptions delivered straight to graphql-ws sockets, through the whole app', () => {
  const running: { server: RunningServer; client: Client }[] = [];
  afterEach(async () => {
    for (const { server, client } of running.splice(0)) {
      await client.dispose();
      await server.close();
    }
  });

  it('delivers the opening status and each change, and releases the subscription when the client completes it', async () => {
    const served = await serve();
    running.push(served);
    const { received, unsubscribe } = follow(served.client, 'subscription { moduleStatusChanged(names: ["web"], initial: true) { module { name } previous status } }');
    await until(() => received.length === 1, 'the opening status');
    await served.modules.start('web');
    await until(() => received.length === 3, 'HANDLING, then RUNNING');
    expect(received).toEqual([
      { data: { moduleStatusChanged: { module: { name: 'web' }, previous: null, status: 'NOT_CREATED' } } },
      { data: { moduleStatusChanged: { module: { name: 'web' }, previous: 'NOT_CREATED', status: 'HANDLING' } } },
      { data: { moduleStatusChanged: { module: { name: 'web' }, previous: 'HANDLING', status: 'RUNNING' } } },
    ]);
    expect(await served.open()).toBe(1);
    unsubscribe();
    await expect.poll(() => served.open()).toBe(0);
  });

  it('answers an event whose execution reads the engine and fails with the error graphql-ws and yoga gave it before', async () => {
    const served = await serve();
    running.push(served);
    await served.modules.start('web');
    served.engine.fail('logs.read', 500);
    const { received } = follow(served.client, 'subscription { moduleChanged(names: ["web"], initial: true) { name status logs(tail: 1) { text } } }');
    await until(() => received.length === 1, 'the opening snapshot');
    // As the commit before direct delivery answered it (a non-null field's error empties the data).
    expect(received).toEqual([
      {
        data: null,
        errors: [{ message: 'the Docker engine refused to logs.read: engine says 500', locations: [{ line: 1, column: 75 }], path: ['moduleChanged', 'logs'], extensions: { code: 'ENGINE_ERROR' } }],
      },
    ]);
  });
});
