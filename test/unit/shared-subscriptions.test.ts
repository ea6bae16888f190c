import type { ExecutionResult } from 'graphql';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { useSharedSubscriptionExecution } from '../../src/graphql/plugins/shared-subscriptions.ts';

interface Tick {
  n: number;
}

/** A schema whose subscription field counts how often it is executed. */
function setup() {
  const pubsub = createPubSub<{ tick: [Tick] }>();
  const executions = { count: 0 };
  let sources = 0;
  const schema = createSchema({
    typeDefs: /* GraphQL */ `
      type Query { ok: Boolean }
      type Tick { n: Int!, scaled(by: Int!): Int!, broken: Int }
      type Subscription { tick: Tick! }
    `,
    resolvers: {
      Subscription: {
        tick: {
          subscribe: () => {
            sources++;
            const stream = pubsub.subscribe('tick');
            return {
              [Symbol.asyncIterator]() {
                return this;
              },
              next: () => stream.next(),
              return: async () => {
                sources--;
                return stream.return!();
              },
            };
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
      },
    },
  });
  const yoga = createYoga({ schema, plugins: [useSharedSubscriptionExecution()] });
  const subscribe = async (query: string, variables: Record<string, unknown> = {}) => {
    // The enveloped parse, as berth's servers use it: yoga's parser cache gives equal queries one document.
    const { parse, subscribe, contextFactory, schema } = yoga.getEnveloped({ request: new Request('http://localhost/graphql') });
    const result = await subscribe({ schema, document: parse(query), variableValues: variables, contextValue: await contextFactory() });
    if (!(Symbol.asyncIterator in result)) throw new Error(JSON.stringify(result));
    return result as AsyncIterableIterator<ExecutionResult>;
  };
  return { pubsub, executions, subscribe, sources: () => sources };
}

const byQuery = 'subscription ($by: Int!) { tick { n scaled(by: $by) } }';

describe('useSharedSubscriptionExecution', () => {
  it('executes an event once for all subscribers of the same operation', async () => {
    const { pubsub, executions, subscribe } = setup();
    const streams = await Promise.all([1, 2, 3].map(() => subscribe(byQuery, { by: 10 })));
    const results = streams.map((stream) => stream.next());
    pubsub.publish('tick', { n: 4 });
    for (const result of await Promise.all(results)) expect(result.value).toEqual({ data: { tick: { n: 4, scaled: 40 } } });
    expect(executions.count).toBe(1);

    const next = streams.map((stream) => stream.next());
    pubsub.publish('tick', { n: 5 });
    for (const result of await Promise.all(next)) expect(result.value).toEqual({ data: { tick: { n: 5, scaled: 50 } } });
    expect(executions.count).toBe(2);
  });

  it('executes apart for other variables or another document', async () => {
    const { pubsub, executions, subscribe } = setup();
    const tens = await subscribe(byQuery, { by: 10 });
    const twos = await subscribe(byQuery, { by: 2 });
    const literal = await subscribe('subscription { tick { scaled(by: 3) } }');
    const pending = [tens.next(), twos.next(), literal.next()];
    pubsub.publish('tick', { n: 7 });
    expect((await Promise.all(pending)).map((result) => result.value)).toEqual([
      { data: { tick: { n: 7, scaled: 70 } } },
      { data: { tick: { n: 7, scaled: 14 } } },
      { data: { tick: { scaled: 21 } } },
    ]);
    expect(executions.count).toBe(3);
  });

  it('keeps no result for an operation with a single subscriber, also once the others left', async () => {
    const { pubsub, executions, subscribe } = setup();
    const [lone, leaving] = await Promise.all([subscribe(byQuery, { by: 10 }), subscribe(byQuery, { by: 10 })]);
    await leaving.return!();
    const tick = { n: 2 };
    for (let round = 0; round < 2; round++) {
      const next = lone.next();
      pubsub.publish('tick', tick);
      expect((await next).value).toEqual({ data: { tick: { n: 2, scaled: 20 } } });
    }
    expect(executions.count).toBe(2);
  });

  it('still masks unexpected errors for every subscriber', async () => {
    const { pubsub, subscribe } = setup();
    const streams = await Promise.all([1, 2].map(() => subscribe('subscription { tick { n broken } }')));
    const pending = streams.map((stream) => stream.next());
    pubsub.publish('tick', { n: 1 });
    for (const { value } of await Promise.all(pending)) {
      expect(value.data).toEqual({ tick: { n: 1, broken: null } });
      expect(value.errors?.map((error: { message: string }) => error.message)).toEqual(['Unexpected error.']);
    }
  });

  it('releases the source on return(), while a next() waits', async () => {
    const { subscribe, sources } = setup();
    const stream = await subscribe(byQuery, { by: 1 });
    const waiting = stream.next();
    expect(sources()).toBe(1);
    await expect(stream.return!()).resolves.toMatchObject({ done: true });
    await expect(waiting).resolves.toMatchObject({ done: true });
    expect(sources()).toBe(0);
  });
});
