import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { serveProtocol } from '../../src/http/graphql-ws-sockets.ts';

// berth's binding of graphql-ws to ws sockets: one keep-alive sweep for all sockets, rather than timers per socket.
describe('serveProtocol', () => {
  let sockets: WebSocketServer | undefined;
  const clients: WebSocket[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.terminate();
    await new Promise((resolve) => sockets?.close(resolve));
  });

  /** A server whose sweep runs every `keepAliveMs`, and a client of it, acknowledged; `autoPong: false` answers no ping. */
  async function connect(keepAliveMs: number, autoPong: boolean): Promise<WebSocket> {
    sockets = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(sockets, 'listening');
    serveProtocol({}, sockets, { extraOf: (socket, address, frames) => ({ socket, address, frames }), onError: () => {}, keepAliveMs });
    const client = new WebSocket(`ws://127.0.0.1:${(sockets.address() as AddressInfo).port}`, GRAPHQL_TRANSPORT_WS_PROTOCOL, { autoPong });
    clients.push(client);
    await once(client, 'open');
    client.send(JSON.stringify({ type: 'connection_init' }));
    const [ack] = (await once(client, 'message')) as [Buffer];
    expect(JSON.parse(String(ack))).toEqual({ type: 'connection_ack' });
    return client;
  }

  it('ends a socket that does not answer a ping by the next sweep', async () => {
    const client = await connect(100, false);
    const pinged = once(client, 'ping');
    const [code] = (await once(client, 'close')) as [number];
    await pinged;
    expect(code).toBe(1006);
  });

  it('keeps a socket that answers every ping', async () => {
    // A sweep a second: a pong late by a second on a loaded machine would end it, so the bound is generous.
    const client = await connect(1000, true);
    for (let ping = 0; ping < 3; ping++) await once(client, 'ping');
    expect(client.readyState).toBe(WebSocket.OPEN);
  });
});
