import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLoopbackHostHeader } from '../auth/auth-plugin.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import { bearerToken } from '../auth/tokens.ts';
import type { KeptResponses, OperationParams } from '../graphql/plugins/kept-responses.ts';
import { requestIdHeader, requestIdOf } from './request-id.ts';

export interface KeptAnswersOptions {
  auth: Authenticator;
  loopbackHostOnly: boolean;
  /** The app's body limit: a larger body goes to the app untouched, which refuses it. */
  maxBodyBytes: number;
}

/** The media types yoga answers a POST in, by its Accept header: those a kept answer can be sent in. */
const mediaTypes = new Map([
  [undefined, 'application/json; charset=utf-8'],
  ['*/*', 'application/json; charset=utf-8'],
  ['application/json', 'application/json; charset=utf-8'],
  ['application/graphql-response+json', 'application/graphql-response+json; charset=utf-8'],
]);

/**
 * A repeated query answered from its kept answer (KeptResponses) straight from node:http, before the app: the
 * frontend's `modules` query would otherwise spend most of its time in the fetch-API layer around an answer that is
 * already known. Only a request the app would answer 200 with that very answer: a JSON POST to the endpoint, within
 * the body limit, with a granted token (authentication, revocation), addressed as the app requires, whose operation
 * the app has already run for the same principal at the same store version (parsing, armor limits, roles, errors).
 * Anything else, a miss included, goes to the app, with the body read here handed on.
 */
export function keptAnswers(kept: KeptResponses, endpoint: string, { auth, loopbackHostOnly, maxBodyBytes }: KeptAnswersOptions) {
  return (request: IncomingMessage, response: ServerResponse, app: () => void): void => {
    const mediaType = mediaTypes.get(request.headers.accept);
    const length = Number(request.headers['content-length'] ?? NaN);
    const principal = auth.authenticate(bearerToken(request.headers.authorization));
    const eligible =
      request.method === 'POST' &&
      request.url === endpoint &&
      mediaType !== undefined &&
      /^application\/json(;\s*charset=utf-8)?$/i.test(request.headers['content-type'] ?? '') &&
      length <= maxBodyBytes &&
      request.headers['transfer-encoding'] === undefined &&
      (!loopbackHostOnly || isLoopbackHostHeader(request.headers.host));
    if (!eligible || !principal) return app();
    readBody(request).then(
      (body) => {
        const operation = operationOf(body);
        const answer = operation && kept.answer(principal, operation);
        if (!answer) {
          // whatwg-node takes a request's `body`, when set, for the body it has already read.
          Object.assign(request, { body });
          return app();
        }
        response.writeHead(200, { 'content-type': mediaType, 'content-length': answer.body.byteLength, [requestIdHeader]: requestIdOf(request.headers[requestIdHeader] as string | undefined) });
        response.end(answer.body);
      },
      () => request.destroy(),
    );
  };
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

/** The operation of a JSON body that holds nothing else; undefined for anything the app must judge. */
function operationOf(body: Buffer): OperationParams | undefined {
  try {
    const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const known = Object.keys(parsed).every((key) => key === 'query' || key === 'operationName' || key === 'variables');
    return known && typeof parsed.query === 'string' ? (parsed as unknown as OperationParams) : undefined;
  } catch {
    return undefined;
  }
}
