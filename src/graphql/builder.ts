import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import FederationPlugin from '@pothos/plugin-federation';
import TracingPlugin from '@pothos/plugin-tracing';
import { auditedMutation } from './plugins/audit.ts';
import type { BerthContext } from './context.ts';
import type { UploadedFile } from './plugins/uploads.ts';

export const builder = new SchemaBuilder<{
  Context: BerthContext;
  DefaultFieldNullability: false;
  Scalars: { DateTime: { Input: Date; Output: Date }; SafeInt: { Input: number; Output: number }; File: { Input: UploadedFile; Output: never } };
}>({
  // Federation comes last: it must see resolvers as the plugins before it have wrapped them.
  plugins: [DirectivesPlugin, TracingPlugin, FederationPlugin],
  defaultFieldNullability: false,
  // Every mutation is audited, at its root field: one line each, whatever the transport.
  tracing: {
    default: (field) => field.parentType === 'Mutation',
    wrap: (resolver, _options, field) => auditedMutation(resolver as Parameters<typeof auditedMutation>[0], field.name),
  },
});
