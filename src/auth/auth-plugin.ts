import {
  getOperationAST,
  GraphQLError,
  Kind,
  OperationTypeNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type ASTNode,
  type DocumentNode,
  type ExecutionArgs,
  type FragmentDefinitionNode,
  type GraphQLField,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { isLoopback } from '../config/settings.ts';
import type { Authenticator } from './authenticator.ts';
import { bearerToken, type Principal } from './tokens.ts';
import { endWhen } from '../lib/async-iteration.ts';

export const unauthenticatedMessage = 'a valid token is required: send Authorization: Bearer <token> (graphql-ws: connectionParams.authorization)';

/** Paths that answer without a token: liveness and readiness, for orchestrators. */
const openPaths = new Set(['/health', '/ready']);

/** Where GraphiQL's page is served: the GraphQL endpoint (app.ts). */
const graphiqlPath = '/graphql';

/**
 * HTTP authentication, closed by default: every request carries `Authorization: Bearer`, or is
 * answered 401 UNAUTHENTICATED before anything runs. Open: /health, /ready and, while GraphiQL is
 * on, its page (GET /graphql asking for HTML, which yoga answers with the page alone; at any other
 * path, /metrics say, asking for HTML opens nothing); GraphiQL's own requests carry the header like any other.
 */
export function useHttpAuthentication(auth: Authenticator, principals: WeakMap<Request, Principal>, { graphiql }: { graphiql: boolean }): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (openPaths.has(url.pathname) || (graphiql && url.pathname === graphiqlPath && isGraphiQLPage(request))) return;
      const principal = auth.authenticate(bearerToken(request.headers.get('authorization')));
      if (principal) {
        principals.set(request, principal);
        return;
      }
      const body = { errors: [{ message: unauthenticatedMessage, extensions: { code: 'UNAUTHENTICATED' } }] };
      endResponse(
        new fetchAPI.Response(JSON.stringify(body), {
          status: 401,
          headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Bearer realm="berth"' },
        }),
      );
    },
  };
}

function isGraphiQLPage(request: Request): boolean {
  return request.method === 'GET' && (request.headers.get('accept') ?? '').includes('text/html');
}

/**
 * Without authentication berth must be reached as localhost only: a request naming any other host
 * is a DNS-rebinding page in a browser, and is refused.
 */
export function useLoopbackHostOnly(): Plugin {
  return {
    onRequest({ request, endResponse, fetchAPI }) {
      if (isLoopbackHostHeader(request.headers.get('host'))) return;
      const body = { errors: [{ message: 'authentication is off, so berth answers only requests addressed to localhost', extensions: { code: 'FORBIDDEN' } }] };
      endResponse(new fetchAPI.Response(JSON.stringify(body), { status: 403, headers: { 'content-type': 'application/json; charset=utf-8' } }));
    },
  };
}

/** A Host header naming this machine's loopback, with any port: the same rule as for HOST. */
export function isLoopbackHostHeader(host: string | null | undefined): boolean {
  return host ? isLoopback(host.replace(/:\d+$/, '')) : false;
}

/** Marks a field that only an operator may select (logs, stats, pulls): `extensions: operatorOnly`. */
export const operatorOnly = { role: 'operator' } as const;

/**
 * viewer: queries and subscriptions of status; operator: every mutation too, and the fields marked
 * operatorOnly wherever they are selected. A role too low is FORBIDDEN, before anything runs.
 */
export function useRoles(principalOf: (context: object) => Principal | undefined): Plugin {
  const check = (args: ExecutionArgs, refuse: (error: GraphQLError) => void) => {
    const principal = principalOf(args.contextValue as object);
    if (principal?.role === 'operator') return;
    const needed = operatorSelection(args);
    if (!needed) return;
    refuse(
      new GraphQLError(`the ${principal?.role ?? 'anonymous'} role may not ${needed}; an operator token is needed`, {
        extensions: { code: 'FORBIDDEN', http: { status: 403 } },
      }),
    );
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      check(args, (error) => setResultAndStopExecution({ errors: [error] }));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      check(args, (error) => setResultAndStopExecution({ errors: [error] }));
    },
  };
}

/** What in the operation needs an operator: "run mutations", "select Module.logs"; undefined when nothing. */
function operatorSelection(args: ExecutionArgs): string | undefined {
  const operation = getOperationAST(args.document, args.operationName);
  if (operation?.operation === OperationTypeNode.MUTATION) return 'run mutations';
  const field = selectedField(args, (definition) => definition.extensions?.role === operatorOnly.role);
  return field && `select ${field}`;
}

/** The first field the operation selects (through its fragments too) that passes `test`, as `Parent.field`; undefined when none. */
export function selectedField({ schema, document, operationName }: Pick<ExecutionArgs, 'schema' | 'document' | 'operationName'>, test: (field: GraphQLField<unknown, unknown>) => boolean): string | undefined {
  const operation = getOperationAST(document, operationName);
  if (!operation) return undefined;
  const typeInfo = new TypeInfo(schema);
  let found: string | undefined;
  visit(
    { kind: Kind.DOCUMENT, definitions: [operation, ...spreadFragments(document, operation)] },
    visitWithTypeInfo(typeInfo, {
      Field() {
        const field = typeInfo.getFieldDef();
        if (!field || !test(field)) return undefined;
        found = `${typeInfo.getParentType()?.name}.${field.name}`;
        return false;
      },
    }),
  );
  return found;
}

/** The fragments an operation spreads, directly or through other fragments. */
function spreadFragments(document: DocumentNode, from: ASTNode): FragmentDefinitionNode[] {
  const fragments = new Map(document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION).map((fragment) => [fragment.name.value, fragment]));
  const reached = new Map<string, FragmentDefinitionNode>();
  const walk = (node: ASTNode) =>
    visit(node, {
      FragmentSpread(spread) {
        const fragment = fragments.get(spread.name.value);
        if (!fragment || reached.has(fragment.name.value)) return;
        reached.set(fragment.name.value, fragment);
        walk(fragment);
      },
    });
  walk(from);
  return [...reached.values()];
}

/**
 * A subscription lasts only as long as its token: when the tokens file no longer grants it, the
 * stream ends (graphql-ws completes it; SSE closes), whatever transport carried it.
 */
export function useRevocation(auth: Authenticator, principalOf: (context: object) => Principal | undefined): Plugin {
  return {
    onSubscribe({ args }) {
      const principal = principalOf(args.contextValue as object);
      if (!auth.enabled || !principal) return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (Symbol.asyncIterator in result) setResult(endWhen(result, () => auth.isCurrent(principal), (listener) => auth.onChange(listener)));
        },
      };
    },
  };
}
