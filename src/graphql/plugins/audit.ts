import type { IncomingMessage } from 'node:http';
import {
  getOperationAST,
  GraphQLError,
  Kind,
  valueFromASTUntyped,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type GraphQLFieldResolver,
  type SelectionNode,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { BerthError } from '../../errors.ts';
import { elapsedMs, type AuditEntry, type AuditLog } from '../../lib/audit-log.ts';
import type { BerthContext } from '../context.ts';

/**
 * A root mutation field's resolver that writes one audit line when it ends: who, the field, the modules its
 * arguments name, the outcome (a batch's per module) and the time it took. Mutations run one field after the
 * other, so each line's duration is its own. Wrapped by the tracing plugin (builder.ts).
 */
export function auditedMutation(resolver: GraphQLFieldResolver<unknown, BerthContext, Record<string, unknown>>, operation: string): GraphQLFieldResolver<unknown, BerthContext, Record<string, unknown>> {
  return async (parent, args, context, info) => {
    const start = performance.now();
    let ended: Pick<AuditEntry, 'outcome' | 'details'> = { outcome: 'INTERNAL_SERVER_ERROR' };
    try {
      const result: unknown = await resolver(parent, args, context, info);
      ended = Array.isArray(result) ? batchOutcome(args, result) : { outcome: 'ok' };
      return result;
    } catch (error) {
      ended = failure(error);
      throw error;
    } finally {
      const details = { ...argumentDetails(args), ...ended.details };
      context.audit?.write({ ...who(context), operation, modules: modulesIn(args), outcome: ended.outcome, durationMs: elapsedMs(start), requestId: context.requestId, ...(Object.keys(details).length > 0 && { details }) });
    }
  };
}

/**
 * Requests refused before they ran, by role (FORBIDDEN) or for want of a principal (UNAUTHENTICATED): one
 * audit line each, whatever the operation. Placed before useRoles, it sees the result useRoles answers.
 */
export function useRefusalAudit(audited: WeakSet<Request>): Plugin {
  const audit = (args: ExecutionArgs, result: unknown) => {
    const refusal = refusalOf(result);
    if (!refusal) return;
    const context = args.contextValue as BerthContext;
    if (context.request) audited.add(context.request);
    const fields = rootFields(args);
    context.audit?.write({
      ...who(context),
      operation: fields.map((field) => field.name.value).join(',') || 'unknown',
      modules: fields.flatMap((field) => namedModules(field, args.variableValues ?? {})),
      outcome: refusal.code,
      durationMs: 0,
      requestId: context.requestId,
      details: { message: refusal.message },
    });
  };
  return {
    onExecute: () => ({ onExecuteDone: ({ args, result }) => audit(args, result) }),
    onSubscribe: () => ({ onSubscribeResult: ({ args, result }) => audit(args, result) }),
  };
}

/**
 * Every HTTP answer 401 or 403 that no line was written for yet: refused before GraphQL ran (no valid
 * token, a foreign Host, CSRF prevention). One line each, with the client's address.
 */
export function useHttpRefusalAudit(audit: AuditLog | undefined, { audited, requestIds }: { audited: WeakSet<Request>; requestIds: WeakMap<Request, string> }): Plugin {
  return {
    onResponse({ request, response, serverContext }) {
      if ((response.status !== 401 && response.status !== 403) || audited.has(request)) return;
      audit?.write({
        principal: null,
        operation: `${request.method} ${new URL(request.url).pathname}`,
        outcome: response.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN',
        durationMs: 0,
        requestId: requestIds.get(request),
        details: { address: clientAddress(serverContext) },
      });
    },
  };
}

/** The principal and role of a request, for its audit line. */
function who(context: Partial<BerthContext>): Pick<AuditEntry, 'principal' | 'role'> {
  return context.principal ? { principal: context.principal.name, role: context.principal.role } : { principal: null };
}

/** The client's address, from node's request under yoga (an audit line's detail for a refusal). */
export function clientAddress(serverContext: unknown): string | undefined {
  return (serverContext as { req?: IncomingMessage } | undefined)?.req?.socket?.remoteAddress;
}

function modulesIn(args: Record<string, unknown>): string[] | undefined {
  if (typeof args.name === 'string') return [args.name];
  if (Array.isArray(args.names)) return args.names.filter((name): name is string => typeof name === 'string');
  return undefined;
}

/** Arguments worth keeping besides the modules: a stop's timeout, a load's engine. */
function argumentDetails(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([key, value]) => (key === 'timeoutSeconds' || key === 'engine') && value !== undefined && value !== null));
}

/** A batch answers an Error in the place of each module that failed: `partial` when some did, with each one's code. */
function batchOutcome(args: Record<string, unknown>, results: readonly unknown[]): Pick<AuditEntry, 'outcome' | 'details'> {
  const names = modulesIn(args) ?? [];
  const failed = Object.fromEntries(results.flatMap((result, index) => (result instanceof Error ? [[names[index] ?? String(index), codeOf(result)]] : [])));
  const count = Object.keys(failed).length;
  if (count === 0) return { outcome: 'ok' };
  return { outcome: count === results.length ? 'failed' : 'partial', details: { failed } };
}

function failure(error: unknown): Pick<AuditEntry, 'outcome' | 'details'> {
  // berth's own messages are meant for users and carry no secret; anything else is not repeated.
  return error instanceof BerthError ? { outcome: error.code, details: { message: error.message } } : { outcome: codeOf(error) };
}

function codeOf(error: unknown): string {
  if (error instanceof BerthError) return error.code;
  const code = (error as GraphQLError | undefined)?.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

function refusalOf(result: unknown): { code: string; message: string } | undefined {
  const errors = (result as ExecutionResult | undefined)?.errors ?? [];
  if (errors.length === 0 || (result as ExecutionResult).data) return undefined;
  const refused = errors.find((error) => error.extensions?.code === 'FORBIDDEN' || error.extensions?.code === 'UNAUTHENTICATED');
  return refused && { code: refused.extensions.code as string, message: refused.message };
}

/** The operation's root fields, those its fragments at the root select too (a fragment once, whatever its spreads). */
export function rootFields({ document, operationName }: Pick<ExecutionArgs, 'document' | 'operationName'>): FieldNode[] {
  const fragments = new Map(document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((fragment) => [fragment.name.value, fragment]));
  const seen = new Set<string>();
  const fieldsOf = (selections: readonly SelectionNode[]): FieldNode[] =>
    selections.flatMap((selection) => {
      if (selection.kind === Kind.FIELD) return [selection];
      if (selection.kind === Kind.INLINE_FRAGMENT) return fieldsOf(selection.selectionSet.selections);
      const fragment = fragments.get(selection.name.value);
      if (!fragment || seen.has(fragment.name.value)) return [];
      seen.add(fragment.name.value);
      return fieldsOf(fragment.selectionSet.selections);
    });
  return fieldsOf(getOperationAST(document, operationName)?.selectionSet.selections ?? []);
}

/** The modules a root field's `name` or `names` argument gives, literally or through variables. */
function namedModules(field: FieldNode, variables: Record<string, unknown>): string[] {
  return (field.arguments ?? []).flatMap((argument) => {
    if (argument.name.value !== 'name' && argument.name.value !== 'names') return [];
    const value: unknown = valueFromASTUntyped(argument.value, variables);
    return (Array.isArray(value) ? value : [value]).filter((name): name is string => typeof name === 'string');
  });
}
