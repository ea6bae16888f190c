import SchemaBuilder from '@pothos/core';
import DirectivesPlugin from '@pothos/plugin-directives';
import FederationPlugin from '@pothos/plugin-federation';
import type { BerthContext } from './context.ts';
import type { UploadedFile } from './plugins/uploads.ts';

export const builder = new SchemaBuilder<{
  Context: BerthContext;
  DefaultFieldNullability: false;
  Scalars: { DateTime: { Input: Date; Output: Date }; SafeInt: { Input: number; Output: number }; File: { Input: UploadedFile; Output: never } };
}>({
  // Federation comes last: it must see resolvers as the plugins before it have wrapped them.
  plugins: [DirectivesPlugin, FederationPlugin],
  defaultFieldNullability: false,
});
