import { GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { operatorOnly, useRoles } from '../../src/auth/auth-plugin.ts';
import type { Principal } from '../../src/auth/tokens.ts';

// Fields marked operatorOnly are refused to a viewer wherever they are selected: at the root, deep
// inside, through fragments, in subscriptions; the rest of what a viewer may do is untouched.
describe('useRoles with operator-only fields', () => {
  const Module = new GraphQLObjectType({
    name: 'Module',
    fields: { name: { type: GraphQLString, resolve: () => 'web' }, logs: { type: GraphQLString, extensions: operatorOnly, resolve: () => 'a line' } },
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { module: { type: Module, resolve: () => ({}) } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        stats: {
          type: GraphQLString,
          extensions: operatorOnly,
          subscribe: async function* () {
            yield 'busy';
          },
          resolve: (value: string) => value,
        },
      },
    }),
  });
  const ask = async (role: Principal['role'], query: string, operationName?: string) => {
    const yoga = createYoga({ schema, plugins: [useRoles((context) => (context as { principal?: Principal }).principal)], context: { principal: { name: 'someone', role } } });
    const accept = query.startsWith('subscription') ? 'text/event-stream' : 'application/json';
    const response = await yoga.fetch('http://berth/graphql', { method: 'POST', headers: { 'content-type': 'application/json', accept }, body: JSON.stringify({ query, operationName }) });
    return { status: response.status, text: await response.text() };
  };

  it('refuses a viewer a marked field, deep or through a fragment, naming it', async () => {
    for (const query of ['{ module { name logs } }', '{ module { ...Both } } fragment Both on Module { name ...Logs } fragment Logs on Module { logs }']) {
      const { text } = await ask('viewer', query);
      expect(JSON.parse(text)).toEqual({ errors: [expect.objectContaining({ message: expect.stringContaining('may not select Module.logs'), extensions: { code: 'FORBIDDEN' } })] });
    }
  });

  it('refuses a viewer a marked subscription', async () => {
    const { text } = await ask('viewer', 'subscription { stats }');
    expect(text).toContain('may not select Subscription.stats');
    expect(text).not.toContain('busy');
  });

  it('lets a viewer run what is not marked, and judges only the operation that runs', async () => {
    expect(JSON.parse((await ask('viewer', '{ module { name } }')).text)).toEqual({ data: { module: { name: 'web' } } });
    const both = 'query Open { module { name } } query Closed { module { logs } }';
    expect(JSON.parse((await ask('viewer', both, 'Open')).text)).toEqual({ data: { module: { name: 'web' } } });
  });

  it('lets an operator select everything', async () => {
    expect(JSON.parse((await ask('operator', '{ module { logs } }')).text)).toEqual({ data: { module: { logs: 'a line' } } });
    expect((await ask('operator', 'subscription { stats }')).text).toContain('busy');
  });
});
