// Stands in for dockerode's lib/session.js (see ../deferred-transports.ts).
import { createRequire } from 'node:module';
import { deferredModules } from '../deferred-transports.ts';

type WithSession = (...args: unknown[]) => unknown;

const require = createRequire(import.meta.url);
let real: WithSession | undefined;

/** dockerode's BuildKit session, loaded by the first build that asks for one. */
function withSession(...args: unknown[]): unknown {
  real ??= require(deferredModules.session) as WithSession;
  return real(...args);
}

// What require() returns: dockerode takes the module itself as the function.
export { withSession as 'module.exports' };
