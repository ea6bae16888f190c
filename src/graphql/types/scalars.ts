import { GraphQLScalarType } from 'graphql';
import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { builder } from '../builder.ts';

// As graphql-scalars' DateTime, but written out as its ISO string at once: JSON.stringify's own call of
// Date.toJSON cost more than the rest of a log line's message. The JSON is the same.
const DateTime = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize: (value) => (DateTimeResolver.serialize(value) as Date).toISOString(),
});

builder.addScalarType('DateTime', DateTime);
// Byte counts pass 2^31 (Int's limit) and stay exact up to 2^53 as JSON numbers.
builder.addScalarType('SafeInt', SafeIntResolver);
