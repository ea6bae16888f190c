import { getOperationAST, OperationTypeNode, type ExecutionArgs, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { BerthMetrics } from '../../metrics/berth-metrics.ts';
import { rootFields } from './audit.ts';

export const metricsPath = '/metrics';

/** A root field of a mutation: its name (the metric's label) and the key its errors' paths begin with. */
interface RootField {
  name: string;
  key: string;
}

/**
 * GET (and HEAD) /metrics answers the exposition; placed after authentication, it needs a token like /graphql (any role).
 * Each mutation's root fields are counted by how they ended, refusals (FORBIDDEN) included: so the plugin must
 * come before useRoles, whose refusal ends the execution before the later plugins see it.
 */
export function useMetrics(metrics: BerthMetrics): Plugin {
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== metricsPath || (request.method !== 'GET' && request.method !== 'HEAD')) return;
      const text = await metrics.text();
      endResponse(new fetchAPI.Response(request.method === 'HEAD' ? null : text, { headers: { 'content-type': metrics.contentType } }));
    },
    onExecute({ args }) {
      const fields = mutationFields(args);
      if (fields.length === 0) return;
      const began = performance.now();
      return {
        onExecuteDone({ result }) {
          if (Symbol.asyncIterator in result) return;
          const seconds = (performance.now() - began) / 1000;
          for (const field of fields) metrics.operations.record(field.name, outcome(result.errors ?? [], field.key), seconds);
        },
      };
    },
  };
}

/** Counts a subscription open, by transport (graphql-ws.ts puts the socket in its operations' context), until it ends. */
export function countSubscription(metrics: BerthMetrics): (args: ExecutionArgs) => () => void {
  return ({ contextValue }) => metrics.connections.subscriptionOpened((contextValue as { socket?: unknown }).socket ? 'graphql-ws' : 'sse');
}

/** The root fields a mutation selects (through fragments too); none for a query or a subscription. */
export function mutationFields(args: Pick<ExecutionArgs, 'document' | 'operationName'>): RootField[] {
  if (getOperationAST(args.document, args.operationName)?.operation !== OperationTypeNode.MUTATION) return [];
  return rootFields(args).map((field) => ({ name: field.name.value, key: field.alias?.value ?? field.name.value }));
}

/**
 * `ok`, or the code of the field's error: one whose path begins with the field, or one of the whole operation
 * (a refusal, which has no path). A code is one of berth's or graphql's, a bounded set; an error without one
 * is what masking answers, INTERNAL_SERVER_ERROR.
 */
export function outcome(errors: readonly Pick<GraphQLError, 'path' | 'extensions'>[], key: string): string {
  const error = errors.find((candidate) => candidate.path?.[0] === key) ?? errors.find((candidate) => !candidate.path);
  if (!error) return 'ok';
  const code = error.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}
