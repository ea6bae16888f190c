import { builder } from './builder.ts';
import './root.ts';
import './scalars.ts';
import './container-status.ts';
import './port.ts';
import './module.ts';
import './module-status-change.ts';
import './engine.ts';

export const schema = builder.toSchema({ sortSchema: true });
