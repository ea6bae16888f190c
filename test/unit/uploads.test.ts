import { text } from 'node:stream/consumers';
import { GraphQLNonNull, GraphQLObjectType, GraphQLScalarType, GraphQLSchema, GraphQLString } from 'graphql';
import { createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { UploadedFile, useBodyLimitsAndStreamedUploads } from '../../src/graphql/plugins/uploads.ts';

// The multipart parser hands the resolver the file as a stream; what a client may put in the request
// is checked before the operation runs.
describe('useBodyLimitsAndStreamedUploads', () => {
  const File = new GraphQLScalarType({ name: 'File', parseValue: (value) => value as UploadedFile });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString, resolve: () => 'ok' } } }),
    mutation: new GraphQLObjectType({
      name: 'Mutation',
      fields: {
        read: {
          type: GraphQLString,
          args: { file: { type: new GraphQLNonNull(File) } },
          resolve: async (_root, { file }: { file: UploadedFile }) => `${file.name}: ${await text(file.stream())}`,
        },
      },
    }),
  });
  const yoga = createYoga({ schema, maxRequestBodySize: false, multipart: false, maskedErrors: false, plugins: [useBodyLimitsAndStreamedUploads({ bodyBytes: 500, uploadBytes: 64 })] });
  const post = async (parts: [string, string | Blob, string?][], init: RequestInit = {}) => {
    const form = new FormData();
    for (const [name, value, filename] of parts) {
      if (typeof value === 'string') form.append(name, value);
      else form.append(name, value, filename);
    }
    const response = await yoga.fetch('http://berth/graphql', { method: 'POST', body: form, ...init });
    return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: { message: string }[] } };
  };
  const operations = JSON.stringify({ query: 'mutation($file: File!) { read(file: $file) }', variables: { file: null } });
  const map = (path = 'variables.file') => JSON.stringify({ 0: [path] });

  it('gives the resolver the file as it streams in', async () => {
    expect((await post([['operations', operations], ['map', map()], ['0', new Blob(['hello']), 'a.txt']])).body).toEqual({ data: { read: 'a.txt: hello' } });
  });

  it.each([
    ['a map path that is not a variable', [['operations', operations], ['map', map('__proto__.polluted')], ['0', new Blob(['x']), 'a']], 'must name a variable'],
    ['a file before operations', [['0', new Blob(['x']), 'a'], ['operations', operations], ['map', map()]], 'must come before the files'],
    ['two files', [['operations', operations], ['map', map()], ['0', new Blob(['x']), 'a'], ['1', new Blob(['y']), 'b']], 'one file per request'],
    ['an unknown field', [['operations', operations], ['extra', '1']], 'unknown field "extra"'],
    ['operations that are not JSON', [['operations', '{']], 'must be JSON'],
  ] as [string, [string, string | Blob, string?][], string][])('refuses %s', async (_, parts, message) => {
    const { body } = await post(parts);
    expect(body.errors?.[0]?.message).toContain(message);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stops a file at the upload limit, and any other body at the body limit', async () => {
    const { body } = await post([['operations', operations], ['map', map()], ['0', new Blob(['x'.repeat(100)]), 'big']]);
    expect(body.errors?.[0]?.message).toContain('larger than 64 bytes');
    const json = await yoga.fetch('http://berth/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: `{ ok } # ${'x'.repeat(600)}` }) });
    expect(json.status).toBe(413);
  });
});
