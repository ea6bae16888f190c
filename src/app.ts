import { subscribe, Kind, OperationTypeNode, type DefinitionNode, type GraphQLError } from 'graphql';
import { useGraphQlJit } from '@envelop/graphql-jit';
import { createGraphQLError, createYoga, type Plugin, maskError as defaultMaskError, useReadinessCheck, type YogaLogger } from 'graphql-yoga';
import type { Logger } from 'pino';
import type { DockerModuleClient } from './docker/docker-module-client.ts';
import { BerthError } from './errors.ts';
import type { BerthContext } from './schema/context.ts';
import { schema } from './schema/index.ts';

export interface BerthAppOptions {
  modules: DockerModuleClient;
  logger: Logger;
}

export type BerthApp = ReturnType<typeof createBerthApp>;

/** The GraphQL app, built from its services and not yet listening: tests call `app.fetch`. */
export function createBerthApp({ modules, logger }: BerthAppOptions) {
  return createYoga<Record<string, unknown>, BerthContext>({
    schema,
    graphqlEndpoint: '/graphql',
    healthCheckEndpoint: '/health',
    landingPage: false,
    // GraphiQL with its assets inlined: no CDN, so it works where only berth is reachable. Loaded on
    // first use, so a service nobody browses does not hold the bundle in memory.
    // GraphiQL subscribes over graphql-ws, as monitors do.
    graphiql: { subscriptionsProtocol: 'WS' },
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    context: () => ({ modules }),
    logging: yogaLogger(logger),
    maskedErrors: { maskError: exposeBerthErrors },
    plugins: [
      // Compiled queries: the frontend asks the same few operations over and over. Subscriptions
      // keep graphql-js, whose source-stream errors and snapshots graphql-ws expects.
      useGraphQlJit({}, { enableIf: ({ document }) => document.definitions.every((definition) => !isSubscription(definition)) }),
      graphqlJsSubscriptions,
      useReadinessCheck({
        endpoint: '/ready',
        // Ready once the engine answers and berth has listed it; not while it is out of reach.
        check: () => modules.engine.reachable,
      }),
    ],
  });
}

/**
 * berth's expected failures keep their message and code; anything else is masked. The GraphQL
 * error is recognised by shape: graphql may be loaded twice (ESM and CommonJS) under test runners.
 */
function exposeBerthErrors(error: unknown, message: string, isDev?: boolean): Error {
  const original = (error as Partial<GraphQLError>).originalError;
  if (original instanceof BerthError) {
    const graphQLError = error as GraphQLError;
    return createGraphQLError(original.message, {
      nodes: graphQLError.nodes,
      source: graphQLError.source,
      positions: graphQLError.positions,
      path: graphQLError.path,
      extensions: { ...graphQLError.extensions, code: original.code },
    });
  }
  return defaultMaskError(error, message, isDev);
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

const graphqlJsSubscriptions: Plugin = { onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(subscribe) };

function isSubscription(definition: DefinitionNode): boolean {
  return definition.kind === Kind.OPERATION_DEFINITION && definition.operation === OperationTypeNode.SUBSCRIPTION;
}
