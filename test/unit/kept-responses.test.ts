import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { operatorOnly, useRoles } from '../../src/auth/auth-plugin.ts';
import type { Principal } from '../../src/auth/tokens.ts';
import { KeptResponses, liveRead, useKeptResponses } from '../../src/graphql/plugins/kept-responses.ts';

// A repeated query answers from the response kept for it while nothing it reads changed; any change of the
// version or of the docker.yaml state, another principal, document, operation or variables computes it again.
describe('useKeptResponses', () => {
  const setup = ({ entries }: { entries?: number } = {}) => {
    const reads = { status: 0, logs: 0 };
    const state = { version: 1, config: {} as object, status: 'RUNNING' };
    const Module = new GraphQLObjectType({
      name: 'Module',
      fields: {
        status: { type: GraphQLString, resolve: () => (reads.status++, state.status) },
        secret: { type: GraphQLString, extensions: operatorOnly, resolve: () => 'operators only' },
        logs: { type: GraphQLString, extensions: { ...operatorOnly, ...liveRead }, resolve: () => `line ${++reads.logs}` },
        failing: { type: GraphQLString, resolve: () => { throw new Error('no'); } },
      },
    });
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { module: { type: Module, args: { name: { type: GraphQLString } }, resolve: () => ({}) }, count: { type: GraphQLInt, resolve: () => reads.status } } }),
      mutation: new GraphQLObjectType({ name: 'Mutation', fields: { touch: { type: GraphQLString, resolve: () => (reads.status++, state.status) } } }),
    });
    const principalOf = (context: object) => (context as { principal?: Principal }).principal;
    const yoga = createYoga<{ principal: Principal }>({
      schema,
      maskedErrors: false,
      plugins: [useRoles(principalOf), useKeptResponses(new KeptResponses({ version: () => state.version, config: () => state.config }, { entries }))],
    });
    const ask = async (query: string, { role = 'operator', name = 'someone', variables, operationName }: { role?: Principal['role']; name?: string; variables?: object; operationName?: string } = {}) => {
      const response = await yoga.fetch('http://berth/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables, operationName }) }, { principal: { name, role } });
      return JSON.parse(await response.text()) as { data?: unknown; errors?: { message: string }[] };
    };
    return { reads, state, ask };
  };

  it('answers a repeated query from the kept response until the version changes', async () => {
    const { reads, state, ask } = setup();
    expect(await ask('{ module { status } }')).toEqual({ data: { module: { status: 'RUNNING' } } });
    expect(await ask('{ module { status } }')).toEqual({ data: { module: { status: 'RUNNING' } } });
    expect(reads.status).toBe(1);
    state.status = 'EXITED';
    state.version++;
    expect(await ask('{ module { status } }')).toEqual({ data: { module: { status: 'EXITED' } } });
    expect(reads.status).toBe(2);
  });

  it('computes again after the docker.yaml state is replaced', async () => {
    const { reads, state, ask } = setup();
    await ask('{ module { status } }');
    state.config = {};
    await ask('{ module { status } }');
    expect(reads.status).toBe(2);
  });

  it('keeps one entry per variables, operation name and principal', async () => {
    const { reads, ask } = setup();
    const query = 'query A($name: String) { module(name: $name) { status } } query B { module { status } }';
    for (let round = 0; round < 2; round++) {
      await ask(query, { operationName: 'A', variables: { name: 'a' } });
      await ask(query, { operationName: 'A', variables: { name: 'b' } });
      await ask(query, { operationName: 'B' });
      await ask(query, { operationName: 'B', name: 'another' });
      await ask(query, { operationName: 'B', role: 'viewer' });
    }
    expect(reads.status).toBe(5);
  });

  it('never gives a viewer what an operator was answered', async () => {
    const { ask } = setup();
    expect(await ask('{ module { secret } }')).toEqual({ data: { module: { secret: 'operators only' } } });
    const refused = await ask('{ module { secret } }', { role: 'viewer' });
    expect(refused.data).toBeUndefined();
    expect(refused.errors?.[0]?.message).toContain('may not select Module.secret');
  });

  it('keeps no answer with errors, none that reads the engine itself, and no mutation', async () => {
    const { reads, ask } = setup();
    await ask('{ module { status failing } }');
    await ask('{ module { status failing } }');
    expect(reads.status).toBe(2);
    expect(await ask('{ module { logs } }')).toEqual({ data: { module: { logs: 'line 1' } } });
    expect(await ask('{ module { logs } }')).toEqual({ data: { module: { logs: 'line 2' } } });
    await ask('mutation { touch }');
    await ask('mutation { touch }');
    expect(reads.status).toBe(4);
  });

  it('keeps at most its number of entries, dropping the least recently used', async () => {
    const { reads, ask } = setup({ entries: 2 });
    const asked = (name: string) => ask('query ($name: String) { module(name: $name) { status } }', { variables: { name } });
    await asked('a');
    await asked('b');
    await asked('a');
    await asked('c');
    expect(reads.status).toBe(3);
    await asked('a');
    expect(reads.status).toBe(3);
    await asked('b');
    expect(reads.status).toBe(4);
  });
});
