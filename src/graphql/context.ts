import type { Principal } from '../auth/tokens.ts';
import type { ConfigState } from '../config/config-reloader.ts';
import type { AuditLog } from '../lib/audit-log.ts';
import type { Fleet } from '../modules/fleet.ts';

/**
 * What resolvers reach. Fields under Subscription may read `modules` (the same for everyone) but not
 * who asked: one execution of an event is shared by every subscriber of the same operation, whoever
 * they are (src/graphql/plugins/shared-subscriptions.ts).
 */
export interface BerthContext {
  modules: Fleet;
  /** The docker.yaml in force (ConfigReloader). */
  config: { readonly state: ConfigState };
  /** Who asked; undefined only for a request that was refused before it ran. */
  principal: Principal | undefined;
  /** The HTTP request; none over graphql-ws. */
  request?: Request;
  /** The request's id (x-request-id), or the graphql-ws connection's and operation's: audit lines carry it. */
  requestId?: string;
  /** Where mutations and refusals are written down; none in tests that do not look. */
  audit?: AuditLog;
}
