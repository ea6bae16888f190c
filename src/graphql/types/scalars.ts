import { DateTimeResolver } from 'graphql-scalars';
import { builder } from '../builder.ts';

builder.addScalarType('DateTime', DateTimeResolver);
