// GraphQL Code Generator plugin: prints berth's subgraph SDL as a gateway composes it, with
// `@link` and `@key`. schema-ast would print the schema that codegen rebuilt, which loses them.
import { printSubgraphSchema } from '@apollo/subgraph';
import { schema } from '../src/graphql/schema.ts';

export const plugin = (): string => printSubgraphSchema(schema);
