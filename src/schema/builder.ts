import SchemaBuilder from '@pothos/core';
import type { BerthContext } from './context.ts';

export const builder = new SchemaBuilder<{
  Context: BerthContext;
  DefaultFieldNullability: false;
  Scalars: { DateTime: { Input: Date; Output: Date } };
}>({
  defaultFieldNullability: false,
});
