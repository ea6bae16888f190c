import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { BatchedWrites } from '../../src/http/batched-writes.ts';

// graphql-ws sends a message once the last one is written; BatchedWrites makes one write of all a turn's messages.
describe('BatchedWrites', () => {
  let server: WebSocketServer;
  let client: WebSocket;

  afterEach(async () => {
    client?.terminate();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A server socket with batched writes (past `highWaterBytes`), the client that reads it, and the writes the socket made. */
  async function connect(highWaterBytes?: number, turnBudgetMs?: number) {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[WebSocket]>;
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [socket] = await accepted;
    if (client.readyState !== WebSocket.OPEN) await once(client, 'open');
    const batched = new BatchedWrites(socket, highWaterBytes, turnBudgetMs);
    const raw = (socket as unknown as { _socket: Socket & { _writev: (...args: unknown[]) => void; _write: (...args: unknown[]) => void } })._socket;
    const writes = { count: 0 };
    for (const method of ['_writev', '_write'] as const) {
      const original = raw[method].bind(raw);
      raw[method] = (...args: unknown[]) => {
        writes.count++;
        return original(...args);
      };
    }
    const received: string[] = [];
    client.on('message', (data: Buffer) => received.push(data.toString()));
    return { batched, raw, writes, received, socket };
  }

  /** Sends as graphql-ws does: each message after the last one's callback. */
  async function sendInTurn(batched: BatchedWrites, count: number, onSent?: (index: number) => void): Promise<void> {
    for (let index = 0; index < count; index++) {
      await new Promise<void>((resolve, reject) => batched.send(`message ${index}`, (error) => (error ? reject(error) : resolve())));
      onSent?.(index);
    }
  }

  it('writes the first message of a turn at once and the others of the turn, each sent after the last one completed, together', async () => {
    // No budget for the turn: a loaded machine may take longer than the default's 10 ms for a hundred sends.
    const { batched, writes, received } = await connect(undefined, Infinity);
    await sendInTurn(batched, 100);
    await expect.poll(() => received.length).toBe(100);
    expect(received).toEqual(Array.from({ length: 100 }, (_, index) => `message ${index}`));
    expect(writes.count).toBe(2);
  });

  it('completes a send at once while the socket holds less than its high water mark, past it only once written', async () => {
    // Each message is 11 bytes on the wire. The first is written at once; of the next, held, the fourth finds 33 bytes held.
    const { batched, raw, received } = await connect(25);
    const unwritten: number[] = [];
    await sendInTurn(batched, 5, () => unwritten.push(raw.writableLength));
    expect(unwritten).toEqual([0, 11, 22, 33, 0]);
    await expect.poll(() => received.length).toBe(5);
  });

  it("lets the event loop take a turn before a subscriber's next message once the turn has sent for longer than its budget", async () => {
    const { batched, received } = await connect(undefined, 5);
    const order: string[] = [];
    setImmediate(() => order.push('the next turn'));
    await sendInTurn(batched, 2, (index) => {
      order.push(`sent ${index}`);
      // A turn busy past the budget, as a burst of deliveries to many sockets makes it.
      const until = performance.now() + 10;
      if (index === 0) while (performance.now() < until);
    });
    expect(order).toEqual(['sent 0', 'the next turn', 'sent 1']);
    await expect.poll(() => received.length).toBe(2);
  });

  it("never holds a socket's first message of a turn, however long the turn has sent", async () => {
    const { socket, received } = await connect(undefined, 5);
    // Two sockets' writes, one turn: the other socket starts the turn and keeps it busy past the budget.
    const [other, one] = [new BatchedWrites(socket, undefined, 5), new BatchedWrites(socket, undefined, 5)];
    const order: string[] = [];
    setImmediate(() => order.push('the next turn'));
    other.send('other', () => {});
    const until = performance.now() + 10;
    while (performance.now() < until);
    await new Promise<void>((resolve) => one.send('first', () => resolve()));
    order.push('first sent');
    expect(order).toEqual(['first sent']);
    await expect.poll(() => received.length).toBe(2);
  });

  it('writes the messages nobody waits on of a turn together too, and says when the socket holds past its bound', async () => {
    const { batched, raw, writes, received } = await connect(25);
    // 11 bytes each on the wire: the first is written at once, the next are held by the cork until 33 bytes pass the bound.
    const takesMore = Array.from({ length: 4 }, (_, index) => batched.write(`message ${index}`));
    expect(takesMore).toEqual([true, true, true, false]);
    expect(raw.writableLength).toBe(33);
    await expect.poll(() => received.length).toBe(4);
    expect(received).toEqual(Array.from({ length: 4 }, (_, index) => `message ${index}`));
    expect(writes.count).toBe(2);
  });

  it('writes a message past the turn\'s budget, and answers that the socket takes no more until the next turn', async () => {
    const { batched, socket, received } = await connect(undefined, 5);
    const other = new BatchedWrites(socket, undefined, 5);
    expect(other.write('other')).toBe(true);
    const until = performance.now() + 10;
    while (performance.now() < until);
    expect(batched.write('past the budget')).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batched.write('next turn')).toBe(true);
    await expect.poll(() => received).toEqual(['other', 'past the budget', 'next turn']);
  });

  it('resumes a waiting subscription only in a turn with budget left, its socket corked: what it held goes in one write', async () => {
    const { batched, socket, writes, received } = await connect(undefined, 5);
    const other = new BatchedWrites(socket, undefined, 5);
    const order: string[] = [];
    let writesBefore = 0;
    setImmediate(() => {
      other.write('busy');
      const until = performance.now() + 10;
      while (performance.now() < until);
      order.push('busy turn');
      setImmediate(() => order.push('next turn'));
    });
    batched.whenDrained({
      resume: () => {
        order.push('resumed');
        writesBefore = writes.count;
        for (let index = 0; index < 5; index++) batched.write(`held ${index}`);
      },
    });
    await expect.poll(() => received.length).toBe(6);
    expect(order).toEqual(['busy turn', 'next turn', 'resumed']);
    expect(writes.count - writesBefore).toBe(1);
  });

  it('calls back once the socket has written what it held, when a client that stopped reading reads again', async () => {
    const { batched, socket } = await connect();
    (client as unknown as { _socket: Socket })._socket.pause();
    // Past what the kernel's buffers take, into the socket's own: a turn at a time, until the socket still holds some after one.
    const big = 'x'.repeat(64 * 1024);
    for (let turn = 0; turn < 200 && !(socket.bufferedAmount > 0 && turn > 0); turn++) {
      while (batched.write(big));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(socket.bufferedAmount).toBeGreaterThan(0);
    const resumed: string[] = [];
    batched.whenDrained({ resume: () => resumed.push(`first, holding ${socket.bufferedAmount}`) });
    batched.whenDrained({ resume: () => resumed.push('second') });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(resumed).toEqual([]);
    expect(socket.bufferedAmount).toBeGreaterThan(0);
    (client as unknown as { _socket: Socket })._socket.resume();
    await expect.poll(() => resumed).toEqual(['first, holding 0', 'second']);
  });

  it('calls back in the next turn when the socket is not backed up', async () => {
    const { batched } = await connect();
    const resumed: string[] = [];
    batched.whenDrained({ resume: () => resumed.push('resumed') });
    expect(resumed).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(resumed).toEqual(['resumed']);
  });
});
