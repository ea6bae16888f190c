import { getOperationAST, OperationTypeNode, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { selectedField } from '../../auth/auth-plugin.ts';
import type { Principal } from '../../auth/tokens.ts';
import type { BerthContext } from '../context.ts';

/** Marks a field whose resolver reads the engine itself (logs), rather than the store: no answer with it is kept. */
export const liveRead = { liveRead: true } as const;

/** What a kept answer was computed from: it holds while both are the same. */
export interface KeptResponsesSource {
  /** Changes whenever anything a query could read changes (Fleet.version). */
  version(): number;
  /** The docker.yaml state in force, replaced (never changed) by a reload. */
  config(): object;
}

/** One request's operation, as its JSON body gives it. */
export interface OperationParams {
  query: string;
  operationName?: string | null;
  variables?: unknown;
}

interface KeptResponse {
  version: number;
  config: object;
  result: ExecutionResult;
  /** The answer's bytes, encoded once for every HTTP answer. */
  body: Buffer;
}

/**
 * The answers of repeated queries, while nothing they could read has changed: the frontend asks `modules` over and
 * over, and between two changes every answer is the same bytes. An answer is kept per principal (name and role),
 * query text, operation name and variables, with the store version and the docker.yaml state it was computed at,
 * and answers again only while both are unchanged: never stale, since every change bumps the version (no TTL).
 * Only answers without errors of queries that read the store alone; at most `entries`, least recent dropped first.
 * Not @envelop/response-cache: it invalidates by entity and TTL, hashes each key asynchronously and stringifies
 * every hit again.
 */
export class KeptResponses {
  readonly #source: KeptResponsesSource;
  readonly #entries: number;
  readonly #kept = new Map<string, KeptResponse>();

  /** `entries`: how many answers are kept at most; default 64. */
  constructor(source: KeptResponsesSource, { entries = 64 }: { entries?: number } = {}) {
    this.#source = source;
    this.#entries = entries;
  }

  /** The kept answer, still current, to this principal's operation; undefined when there is none. */
  answer(principal: Principal, params: OperationParams): KeptResponse | undefined {
    const key = keyOf(principal, params);
    const hit = this.#kept.get(key);
    if (hit?.version !== this.#source.version() || hit.config !== this.#source.config()) return undefined;
    this.#kept.delete(key);
    this.#kept.set(key, hit);
    return hit;
  }

  /** Call before the operation runs, and `keep` its answer once it has: a change while it ran is not hidden. */
  before(principal: Principal, params: OperationParams): { keep(data: ExecutionResult['data']): void } {
    const key = keyOf(principal, params);
    const version = this.#source.version();
    const config = this.#source.config();
    return {
      keep: (data) => {
        this.#kept.delete(key);
        this.#kept.set(key, { version, config, ...serialisedOnce(data) });
        if (this.#kept.size > this.#entries) this.#kept.delete(this.#kept.keys().next().value!);
      },
    };
  }
}

/** Answers a repeated query from `kept`; placed after useRoles, so a kept answer only reaches a principal allowed to read it. */
export function useKeptResponses(kept: KeptResponses): Plugin {
  const cacheable = new WeakMap<DocumentNode, Map<string, boolean>>();
  const isCacheable = (args: ExecutionArgs) => {
    const byName = cacheable.get(args.document) ?? new Map<string, boolean>();
    cacheable.set(args.document, byName);
    const name = args.operationName ?? '';
    if (!byName.has(name)) byName.set(name, readsStoreOnly(args));
    return byName.get(name)!;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const principal = (args.contextValue as Partial<BerthContext>).principal;
      const query = args.document.loc?.source.body;
      if (!principal || query === undefined || !isCacheable(args)) return;
      const params = { query, operationName: args.operationName, variables: args.variableValues };
      const hit = kept.answer(principal, params);
      if (hit) {
        setResultAndStopExecution(hit.result);
        return;
      }
      const running = kept.before(principal, params);
      return {
        onExecuteDone({ result }) {
          if (!(Symbol.asyncIterator in result) && !result.errors?.length && !result.extensions) running.keep(result.data);
        },
      };
    },
  };
}

function keyOf(principal: Principal, { query, operationName, variables }: OperationParams): string {
  return JSON.stringify([principal.name, principal.role, query, operationName ?? null, variables ?? null]);
}

/**
 * The answer, with its bytes computed once: yoga's result processor calls a result's own `stringify`. graphql-ws
 * serialises the whole message itself, and finds `data` there.
 */
function serialisedOnce(data: ExecutionResult['data']): { result: ExecutionResult; body: Buffer } {
  const text = JSON.stringify({ data });
  return { result: Object.freeze(Object.assign({ data }, { stringify: () => text })), body: Buffer.from(text) };
}

function readsStoreOnly(args: ExecutionArgs): boolean {
  const operation = getOperationAST(args.document, args.operationName);
  return operation?.operation === OperationTypeNode.QUERY && !selectedField(args, (field) => field.extensions?.liveRead === true);
}
