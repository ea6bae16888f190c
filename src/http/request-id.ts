import { randomUUID } from 'node:crypto';
import type { Plugin } from 'graphql-yoga';
import { flatString } from '../lib/flat-string.ts';

/** The header a proxy or client names a request with, and berth answers it in. */
export const requestIdHeader = 'x-request-id';

/** An id a client may choose: short, and nothing a log line could be forged with. */
const acceptable = /^[\w.:@-]{1,128}$/;

/**
 * Every HTTP request gets an id: the one its `x-request-id` header gives (a proxy's, so that its log and
 * berth's audit meet), or a new one. It is answered in the same header, and audit lines carry it.
 */
export function useRequestId(ids: WeakMap<Request, string>): Plugin {
  return {
    onRequest({ request }) {
      ids.set(request, requestIdOf(request.headers.get(requestIdHeader)));
    },
    onResponse({ request, response }) {
      const id = ids.get(request);
      if (id) response.headers.set(requestIdHeader, id);
    },
  };
}

/** The id a request's `x-request-id` header gives, when acceptable; a new one otherwise. */
export function requestIdOf(given: string | null | undefined): string {
  return given && acceptable.test(given) ? given : randomUUID();
}

/** The id of one graphql-ws operation: its connection's, and the id the client gave the operation. Flat: a subscription holds it. */
export function operationRequestId(connectionId: string, operationId: string): string {
  return flatString(`${connectionId}/${acceptable.test(operationId) ? operationId : '?'}`);
}

/** A connection's id; flat, as node builds a UUID from many parts and a connection holds it for its life. */
export const newConnectionId = (): string => flatString(randomUUID());
