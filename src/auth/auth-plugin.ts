import { getOperationAST, GraphQLError, OperationTypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Authenticator } from './authenticator.ts';
import { bearerToken, type Principal } from './tokens.ts';

export const unauthenticatedMessage = 'a valid token is required: send Authorization: Bearer <token> (graphql-ws: connectionParams.authorization)';

/**
 * HTTP authentication: every GraphQL request to the endpoint carries `Authorization: Bearer`, or
 * is answered 401 UNAUTHENTICATED before anything runs. /health, /ready and the GraphiQL page
 * (which holds no data) stay open; GraphiQL's own requests carry the header like any other.
 */
export function useHttpAuthentication(auth: Authenticator, principals: WeakMap<Request, Principal>, endpoint: string): Plugin {
  return {
    onRequest({ request, url, endResponse, fetchAPI }) {
      if (url.pathname !== endpoint || isGraphiQLPage(request)) return;
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

/** viewer: queries and subscriptions; operator: every mutation too. A role too low is FORBIDDEN. */
export function useRoles(principalOf: (context: object) => Principal | undefined): Plugin {
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== OperationTypeNode.MUTATION) return;
      const principal = principalOf(args.contextValue as object);
      if (principal?.role === 'operator') return;
      setResultAndStopExecution({
        errors: [
          new GraphQLError(`the ${principal?.role ?? 'anonymous'} role may not run mutations; an operator token is needed`, {
            extensions: { code: 'FORBIDDEN', http: { status: 403 } },
          }),
        ],
      });
    },
  };
}
