import { builder } from './builder.ts';
import './root.ts';
import './scalars.ts';
import './container-status.ts';
import './port.ts';
import './module.ts';
import './module-status-change.ts';
import './engine.ts';

/** berth's schema as a Federation v2 subgraph: `_service { sdl }`, `_entities` and `Module @key(fields: "name")`. */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  sortSchema: true,
});
