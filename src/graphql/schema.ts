import { builder } from './builder.ts';
import './types/root.ts';
import './types/scalars.ts';
import './types/container-status.ts';
import './types/health-status.ts';
import './types/port.ts';
import './types/module.ts';
import './types/module-dependency.ts';
import './types/module-status-change.ts';
import './types/module-stats.ts';
import './types/engine.ts';
import './types/config.ts';
import './types/image-load.ts';
import './types/image-pull.ts';
import './types/log-line.ts';
import './types/principal.ts';

/** berth's schema as a Federation v2 subgraph: `_service { sdl }`, `_entities` and `Module @key(fields: "name")`. */
export const schema = builder.toSubGraphSchema({
  linkUrl: 'https://specs.apollo.dev/federation/v2.6',
  sortSchema: true,
});
