import { createGraphQLError, createSchema, createYoga } from 'graphql-yoga';
import { MessageType, stringifyMessage } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { useSharedSubscriptionExecution, type FrameSink } from '../../src/graphql/plugins/shared-subscriptions.ts';
import { PushQueue } from '../../src/lib/async-iteration.ts';

interface Tick {
  n: number;
}

/** A socket's writes, as a subscription delivered straight to it sees them: full on demand, drained on demand. */
class Socket implements FrameSink {
  readonly frames: string[] = [];
  full = false;
  readonly #waiting: { resume(): void }[] = [];

  write(frame: string): boolean {
    this.frames.push(frame);
    return !this.full;
  }

  whenDrained(drained: { resume(): void }): void {
    this.#waiting.push(drained);
  }

  drain(): void {
    this.full = false;
    for (const drained of this.#waiting.splice(0)) drained.resume();
  }

  payloads(): unknown[] {
    return this.frames.map((frame) => (JSON.parse(frame) as { payload: unknown }).payload);
  }
}

/** A schema whose subscription's source is a PushQueue, as berth's feeds are, and whose fields count their executions. */
function setup({ capacity = 100, maskError = true } = {}) {
  const feeds = new Set<PushQueue<Tick>>();
  const executions = { count: 0 };
  const schema = createSchema({
    typeDefs: /* GraphQL */ `
      type Query { ok: Boolean }
      type Tick { n: Int!, scaled(by: Int!): Int!, broken: Int, later: Int! }
      type Subscription { tick: Tick! }
    `,
    resolvers: {
      Subscription: {
        tick: {
          subscribe: () => {
            const feed: PushQueue<Tick> = new PushQueue<Tick>({ capacity, onEnd: () => feeds.delete(feed) });
            feeds.add(feed);
            return feed;
          },
          resolve: (tick: Tick) => tick,
        },
      },
      Tick: {
        scaled: (tick: Tick, { by }: { by: number }) => {
          executions.count++;
          return tick.n * by;
        },
        broken: () => {
          throw new Error('internal detail');
        },
        later: async (tick: Tick) => {
          await new Promise((resolve) => setTimeout(resolve, 10 - tick.n));
          return tick.n;
        },
      },
    },
  });
  const masked = (error: { path?: readonly (string | number)[] | undefined }) => createGraphQLError('Unexpected error.', { path: error.path });
  const yoga = createYoga({ schema, plugins: [useSharedSubscriptionExecution(maskError ? { maskError: masked } : {})] });
  /** A subscription as graphql-ws.ts runs one: its context holds the operation's id and its socket's writes. */
  const subscribe = async (query: string, { id = '1', socket = new Socket(), variables = {} }: { id?: string; socket?: Socket; variables?: Record<string, unknown> } = {}) => {
    const { parse, subscribe, contextFactory, schema } = yoga.getEnveloped({ request: new Request('http://localhost/graphql'), direct: { id, frames: socket } });
    const stream = (await subscribe({ schema, document: parse(query), variableValues: variables, contextValue: await contextFactory() })) as AsyncIterableIterator<unknown>;
    return { stream, socket };
  };
  const publish = (tick: Tick) => {
    for (const feed of feeds) feed.push(tick);
  };
  return { subscribe, publish, executions, feeds };
}

const settled = <T>(promise: Promise<T>) => Promise.race([promise, new Promise((resolve) => setTimeout(() => resolve('pending'), 50))]);
const byQuery = 'subscription ($by: Int!) { tick { n scaled(by: $by) } }';

describe('subscriptions delivered straight to a graphql-ws socket', () => {
  it("writes each event as graphql-ws's own `next` message, executed once for all the subscribers of the operation", async () => {
    const { subscribe, publish, executions } = setup();
    const subscribers = await Promise.all(['a', 'b', 'c'].map((id) => subscribe(byQuery, { id, variables: { by: 10 } })));
    const over = subscribers.map(({ stream }) => stream.next());
    publish({ n: 4 });
    publish({ n: 5 });
    for (const [index, { socket }] of subscribers.entries()) {
      const id = ['a', 'b', 'c'][index]!;
      expect(socket.frames).toEqual([4, 5].map((n) => stringifyMessage({ id, type: MessageType.Next, payload: { data: { tick: { n, scaled: n * 10 } } } })));
    }
    expect(executions.count).toBe(2);
    // graphql-ws's one next() waits for the subscription's end.
    expect(await settled(over[0]!)).toBe('pending');
  });

  it('writes nothing before graphql-ws asks for the first event, then what the feed held meanwhile, in order', async () => {
    const { subscribe, publish } = setup();
    const { stream, socket } = await subscribe(byQuery, { variables: { by: 2 } });
    publish({ n: 1 });
    publish({ n: 2 });
    expect(socket.frames).toEqual([]);
    void stream.next();
    publish({ n: 3 });
    expect(socket.payloads()).toEqual([1, 2, 3].map((n) => ({ data: { tick: { n, scaled: n * 2 } } })));
  });

  it('holds the events that come while the socket is backed up, and writes them in order once it drains', async () => {
    const { subscribe, publish } = setup();
    const { stream, socket } = await subscribe('subscription { tick { n } }');
    void stream.next();
    socket.full = true;
    publish({ n: 1 });
    publish({ n: 2 });
    publish({ n: 3 });
    expect(socket.payloads()).toEqual([{ data: { tick: { n: 1 } } }]);
    socket.drain();
    publish({ n: 4 });
    expect(socket.payloads()).toEqual([1, 2, 3, 4].map((n) => ({ data: { tick: { n } } })));
  });

  it('past its capacity, ends after what it held: the socket gets all of that first, then graphql-ws completes', async () => {
    const { subscribe, publish, feeds } = setup({ capacity: 2 });
    const { stream, socket } = await subscribe('subscription { tick { n } }');
    const over = stream.next();
    socket.full = true;
    for (const n of [1, 2, 3, 4]) publish({ n });
    expect(feeds.size).toBe(0);
    expect(await settled(over)).toBe('pending');
    socket.drain();
    expect(socket.payloads()).toEqual([1, 2, 3].map((n) => ({ data: { tick: { n } } })));
    expect(await over).toEqual({ value: undefined, done: true });
  });

  it("releases the feed on graphql-ws's return() and answers its waiting next() with done", async () => {
    const { subscribe, publish, feeds } = setup();
    const { stream, socket } = await subscribe('subscription { tick { n } }');
    const over = stream.next();
    await stream.return!();
    expect(await over).toEqual({ value: undefined, done: true });
    expect(feeds.size).toBe(0);
    publish({ n: 1 });
    expect(socket.frames).toEqual([]);
  });

  it('masks an unexpected error of an event as yoga does, for every subscriber', async () => {
    const { subscribe, publish } = setup();
    const subscribers = await Promise.all(['a', 'b'].map((id) => subscribe('subscription { tick { n broken } }', { id })));
    for (const { stream } of subscribers) void stream.next();
    publish({ n: 1 });
    for (const { socket } of subscribers) {
      expect(socket.payloads()).toEqual([{ data: { tick: { n: 1, broken: null } }, errors: [{ message: 'Unexpected error.', path: ['tick', 'broken'] }] }]);
      expect(socket.frames[0]).not.toContain('internal detail');
    }
  });

  it('keeps events in order when their execution finishes out of order', async () => {
    const { subscribe, publish } = setup();
    const { stream, socket } = await subscribe('subscription { tick { later } }');
    void stream.next();
    // The first takes longest (10 - n ms).
    for (const n of [1, 5, 9]) publish({ n });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(socket.payloads()).toEqual([1, 5, 9].map((n) => ({ data: { tick: { later: n } } })));
  });

  it('without a way to mask errors, leaves the events to graphql-ws, through the iterator', async () => {
    const { subscribe, publish } = setup({ maskError: false });
    const { stream, socket } = await subscribe('subscription { tick { n } }');
    const next = stream.next();
    publish({ n: 6 });
    expect(await next).toEqual({ value: { data: { tick: { n: 6 } } }, done: false });
    expect(socket.frames).toEqual([]);
  });
});
