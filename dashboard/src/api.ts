// berth's GraphQL API as the page uses it: queries and mutations over fetch, subscriptions over graphql-ws.
import { createClient, type Client } from 'graphql-ws';

export interface ApiError {
  message: string;
  code: string;
  /** Where in the answer it belongs: the index of a batch mutation's module. */
  path?: (string | number)[];
}

export interface Answer<T> {
  data?: T | null;
  errors?: ApiError[];
  /** The HTTP status, 0 when berth could not be reached. */
  status: number;
}

interface RawError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string };
}

const endpoint = '/graphql';

function authorization(token: string): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

function toApiError({ message, path, extensions }: RawError): ApiError {
  return { message, code: extensions?.code ?? 'ERROR', ...(path ? { path } : {}) };
}

/** One query or mutation; its JSON content type also satisfies berth's CSRF prevention. */
export async function request<T>(token: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer<T>> {
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...authorization(token) },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    return { status: 0, errors: [{ message: `berth cannot be reached: ${(error as Error).message}`, code: 'NETWORK' }] };
  }
  const body = (await response.json().catch(() => ({ errors: [{ message: `berth answered HTTP ${response.status}` }] }))) as { data?: T; errors?: RawError[] };
  return { status: response.status, data: body.data ?? null, ...(body.errors ? { errors: body.errors.map(toApiError) } : {}) };
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** graphql-ws's client on berth's /graphql, reconnecting for ever; its states go to onState. */
export function connect(token: string, onState: (state: ConnectionState) => void): Client {
  const url = new URL(endpoint, location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const client = createClient({
    url: url.href,
    connectionParams: () => authorization(token),
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Infinity,
    // berth closes 4403 for a token it refuses: retrying cannot help, the page asks for another.
    shouldRetry: (event) => !(event instanceof CloseEvent && event.code === 4403),
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(1000 * 2 ** retries, 10_000))),
    on: {
      connecting: () => onState('connecting'),
      connected: () => onState('connected'),
      closed: () => onState('disconnected'),
    },
  });
  return client;
}

/** Why the client gave up: berth closes 4403 when it no longer accepts the token (the only close not retried). */
function closeError(error: unknown): ApiError {
  if (error instanceof CloseEvent && error.code === 4403) return { code: 'UNAUTHENTICATED', message: 'berth closed the connection: it no longer accepts this token' };
  return { code: 'ERROR', message: error instanceof CloseEvent ? `connection closed (${error.code} ${error.reason})` : String(error) };
}

export interface Subscription {
  stop(): void;
}

/** One subscription: each event's data to onData, errors to onError, its end to onEnd. */
export function subscribe<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  handlers: { onData: (data: T) => void; onError?: (error: ApiError) => void; onEnd?: () => void },
): Subscription {
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) handlers.onError?.(toApiError(result.errors[0] as RawError));
        if (result.data) handlers.onData(result.data as T);
      },
      error: (error) => handlers.onError?.(Array.isArray(error) ? toApiError(error[0] as RawError) : closeError(error)),
      complete: () => handlers.onEnd?.(),
    },
  );
  return { stop };
}
