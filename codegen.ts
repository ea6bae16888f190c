import type { CodegenConfig } from '@graphql-codegen/cli';
import { printSchema } from 'graphql';
import { schema } from './src/graphql/schema.ts';

const config: CodegenConfig = {
  // The schema clients query, from the code-first source. The loader cannot read Pothos's federation
  // directives from the schema object, so it gets plain SDL; schema.graphql keeps the directives.
  schema: printSchema(schema),
  documents: ['test/operations/*.graphql'],
  generates: {
    // The subgraph SDL, printed so that the federation directives survive.
    'schema.graphql': { plugins: ['./scripts/codegen-subgraph-sdl.ts'] },
    // Typed documents for the test and benchmark clients.
    'test/generated/operations.ts': {
      plugins: ['typescript-operations', 'typed-document-node'],
      config: { useTypeImports: true, enumsAsTypes: true, scalars: { DateTime: 'string', SafeInt: 'number' } },
    },
  },
};

export default config;
