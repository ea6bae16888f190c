import { Kind, OperationTypeNode, type DefinitionNode, type GraphQLError } from 'graphql';
import { useDisableIntrospection } from '@envelop/disable-introspection';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { createGraphQLError, createYoga, maskError as defaultMaskError, type YogaLogger } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { Fleet } from '../modules/fleet.ts';
import type { ConfigState } from '../config/config-reloader.ts';
import { BerthError } from '../errors.ts';
import { useDashboard } from '../http/dashboard.ts';
import { probePaths, useReadiness } from '../http/readiness.ts';
import { unauthenticatedMessage, useHttpAuthentication, useLoopbackHostOnly, useRevocation, useRoles } from '../auth/auth-plugin.ts';
import { anonymous, noAuthentication, type Authenticator } from '../auth/authenticator.ts';
import type { Principal } from '../auth/tokens.ts';
import type { BerthContext } from './context.ts';
import type { BerthMetrics } from '../metrics/berth-metrics.ts';
import { countSubscription, useMetrics } from './plugins/metrics.ts';
import { useSharedSubscriptionExecution } from './plugins/shared-subscriptions.ts';
import { useBodyLimitsAndStreamedUploads } from './plugins/uploads.ts';
import { useHttpRefusalAudit, useRefusalAudit } from './plugins/audit.ts';
import { KeptResponses, useKeptResponses } from './plugins/kept-responses.ts';
import { useRequestId } from '../http/request-id.ts';
import type { AuditLog } from '../lib/audit-log.ts';
import { schema } from './schema.ts';

export interface BerthAppOptions {
  modules: Fleet;
  /** The docker.yaml in force, for the `config` query (ConfigReloader); default: none read from a file (tests). */
  config?: { readonly state: ConfigState };
  logger: Logger;
  /** Default: no authentication, for tests and loopback-only use. */
  auth?: Authenticator;
  /** GraphiQL in a browser at /graphql; default true. */
  graphiql?: boolean;
  /** Introspection queries; default true. */
  introspection?: boolean;
  /** Request body size in bytes; default 100,000. */
  maxBodyBytes?: number;
  /** A file uploaded with the GraphQL multipart request (loadImages), in bytes; default 10 GiB. */
  maxUploadBytes?: number;
  /** Answer only requests addressed to localhost (authentication off on loopback); default false. */
  loopbackHostOnly?: boolean;
  /** Whether the engine answers, for /ready; default what the module client last saw of it. */
  engineReady?: () => boolean | Promise<boolean>;
  /** Where mutations and refused requests are written down; default none (tests that do not look). */
  audit?: AuditLog;
  /** Served at /metrics (behind the tokens), and what mutations and subscriptions add to it; default none, no /metrics. */
  metrics?: BerthMetrics;
  /** The answers of repeated queries, shared with listen's HTTP path; default the app's own. */
  kept?: KeptResponses;
}

const noFile = { state: { path: '', loadedAt: new Date(0), digest: '', errors: [] } } as const;

/** Limits on what one operation may ask, whoever asks (graphql-armor); README lists them. */
export const operationLimits = {
  maxDepth: 10,
  costLimit: 5000,
  maxAliases: 15,
  maxTokens: 1000,
  maxDirectives: 50,
} as const;

export type BerthApp = ReturnType<typeof createBerthApp>;

/** yoga's error masking, as yoga is given it; events delivered straight to a graphql-ws socket are masked with it too. */
const maskedErrors = { maskError: exposeBerthErrors, errorMessage: 'Unexpected error.' };

/** The GraphQL app, built from its services and not yet listening: tests call `app.fetch`. */
export function createBerthApp({ modules, config = noFile, logger, auth = noAuthentication, graphiql = true, introspection = true, maxBodyBytes = 100_000, maxUploadBytes = 10 * 1024 ** 3, loopbackHostOnly = false, engineReady = () => modules.engine.reachable, audit, metrics, kept = new KeptResponses({ version: () => modules.version, config: () => config.state }) }: BerthAppOptions) {
  const principals = new WeakMap<Request, Principal>();
  const requestIds = new WeakMap<Request, string>();
  // Requests whose refusal has its audit line (useRefusalAudit), which the HTTP answer's does not repeat.
  const audited = new WeakSet<Request>();
  const logging = yogaLogger(logger);
  return createYoga<{ principal?: Principal; requestId?: string }, BerthContext>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: probePaths.health,
    landingPage: false,
    // GraphiQL with its assets inlined: no CDN, so it works where only berth is reachable. Loaded on
    // first use, so a service nobody browses does not hold the bundle in memory.
    // GraphiQL subscribes over SSE, plain HTTP: a browser cannot put a token on a WebSocket, but
    // GraphiQL's Headers tab reaches SSE requests like any other. Monitors use graphql-ws.
    graphiql,
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    // Body limits and multipart uploads are berth's own (useBodyLimitsAndStreamedUploads): yoga's would
    // hold an upload whole in memory, and allow it only under the limit of every other request.
    maxRequestBodySize: false,
    multipart: false,
    // No cross-origin browser access: a page elsewhere may neither read answers nor pass a preflight.
    cors: false,
    // HTTP requests were authenticated by useHttpAuthentication, graphql-ws operations in onSubscribe.
    // Closed by default: with authentication on, an operation without a principal does not run.
    context: ({ request, principal, requestId }) => {
      const who = principal ?? principals.get(request) ?? (auth.enabled ? undefined : anonymous);
      if (!who) throw createGraphQLError(unauthenticatedMessage, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });
      return { modules, config, principal: who, request, requestId: requestId ?? requestIds.get(request), audit };
    },
    logging,
    maskedErrors,
    plugins: [
      useRequestId(requestIds),
      useHttpRefusalAudit(audit, { audited, requestIds }),
      useBodyLimitsAndStreamedUploads({ bodyBytes: maxBodyBytes, uploadBytes: maxUploadBytes }),
      ...(loopbackHostOnly ? [useLoopbackHostOnly()] : []),
      // The dashboard's page and assets hold no data: served without a token; its API calls carry one.
      useDashboard(),
      ...(auth.enabled ? [useHttpAuthentication(auth, principals, { graphiql })] : []),
      ...(metrics ? [useMetrics(metrics)] : []),
      // A browser's simple (unpreflighted) request, which another site can make, is refused: it must
      // carry a JSON content type, an Authorization header or x-graphql-yoga-csrf. CSRF on a loopback berth.
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'authorization'] }),
      EnvelopArmorPlugin({
        maxDepth: { n: operationLimits.maxDepth },
        costLimit: { maxCost: operationLimits.costLimit },
        maxAliases: { n: operationLimits.maxAliases },
        maxTokens: { n: operationLimits.maxTokens },
        maxDirectives: { n: operationLimits.maxDirectives },
        blockFieldSuggestion: { enabled: !introspection },
      }),
      ...(introspection ? [] : [useDisableIntrospection()]),
      useRefusalAudit(audited),
      useRoles((context) => (context as Partial<BerthContext>).principal),
      useRevocation(auth, (context) => (context as Partial<BerthContext>).principal),
      // After the role check: a kept answer reaches only a principal allowed to read it.
      useKeptResponses(kept),
      // Compiled queries: the frontend asks the same few operations over and over. Subscriptions keep
      // graphql-js's subscribe, whose source-stream errors and snapshots graphql-ws expects; their events
      // run compiled too, in useSharedSubscriptionExecution.
      useGraphQlJit({}, { enableIf: ({ document }) => document.definitions.every((definition) => !isSubscription(definition)) }),
      // Events delivered straight to a graphql-ws socket pass yoga's masking by: they are masked as it masks them.
      useSharedSubscriptionExecution({ onSubscriber: metrics && countSubscription(metrics), maskError: (error) => maskAsYoga(error, logging) }),
      useReadiness(engineReady),
    ],
  });
}

/**
 * berth's expected failures keep their message and code; anything else is masked (and yoga logs it).
 * The GraphQL error of an expected failure already carries its code (graphql-js takes a BerthError's
 * extensions): it is answered as it is, since yoga logs every error that masking replaces, and a refused
 * start or an unknown module is no server error. The GraphQL error is recognised by shape: graphql may
 * be loaded twice (ESM and CommonJS) under test runners.
 */
function exposeBerthErrors(error: unknown, message: string, isDev?: boolean): Error {
  const graphQLError = error as GraphQLError;
  const original = graphQLError.originalError;
  if (!(original instanceof BerthError)) return defaultMaskError(error, message, isDev);
  if (graphQLError.extensions?.code === original.code) return graphQLError;
  return createGraphQLError(original.message, {
    nodes: graphQLError.nodes,
    source: graphQLError.source,
    positions: graphQLError.positions,
    path: graphQLError.path,
    extensions: { ...graphQLError.extensions, code: original.code },
  });
}

/** What yoga's masking makes of an error of a result, with its log line for an error masked (graphql-yoga's server.js). */
function maskAsYoga(error: GraphQLError, logging: YogaLogger): GraphQLError {
  const masked = maskedErrors.maskError(error, maskedErrors.errorMessage);
  if (masked !== error) logging.error(error);
  return masked as GraphQLError;
}

function yogaLogger(logger: Logger): YogaLogger {
  const child = logger.child({ component: 'graphql' });
  const forward = (level: 'debug' | 'info' | 'warn' | 'error') => (...args: unknown[]) => {
    const [first, ...rest] = args;
    if (first instanceof Error) child[level]({ err: first }, first.message);
    else child[level]({ details: rest.length > 0 ? rest : undefined }, String(first));
  };
  return { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error') };
}

function isSubscription(definition: DefinitionNode): boolean {
  return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
}
