import { DateTimeResolver, SafeIntResolver } from 'graphql-scalars';
import { builder } from '../builder.ts';

builder.addScalarType('DateTime', DateTimeResolver);
// Byte counts pass 2^31 (Int's limit) and stay exact up to 2^53 as JSON numbers.
builder.addScalarType('SafeInt', SafeIntResolver);
