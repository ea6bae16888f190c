import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import { mapIterator } from '../../lib/async-iteration.ts';
import { flatString } from '../../lib/flat-string.ts';

type Execution = ReturnType<typeof execute>;
type EventExecution = (event: unknown) => Execution;

/**
 * Subscriptions whose events execute once for all the subscribers of one operation.
 *
 * A status change goes to every monitor at the same moment, and monitors mostly run the same
 * operation: without sharing, 1,000 of them execute one selection against one event 1,000 times,
 * and most of the garbage a delivery leaves is that execution's. Here an event's result is keyed by
 * the operation (the parsed document, which yoga's parser cache shares among equal queries, the
 * operation name and the variables) and reused by every subscriber of that operation; each
 * subscriber still has its own source stream, limits and plugins. Events that are one subscriber's
 * own, such as the opening snapshot of `initial: true`, must be other objects, so that they execute apart.
 * An operation with a single subscriber keeps no results: it has nobody to share them with, and a followed
 * log's line each kept as a weak key cost a third of its delivery, in the collector's work on them.
 *
 * Sharing is sound because subscription fields resolve from the event and berth's own state alone:
 * no field below Subscription reads who asked, so who asks does not change the answer.
 *
 * Each event runs the operation compiled once with graphql-jit, as queries do (app.ts), which halves what a
 * delivery costs where events come fast and to one subscriber each, such as a followed log's lines; the
 * source stream stays graphql-js's. An operation graphql-jit cannot compile runs on graphql-js's execute.
 *
 * `onSubscriber` is told of each subscription whose stream opens, and answers what to call when it ends (metrics):
 * counted here, where the stream is wrapped anyway, a subscription costs its deliveries nothing more.
 */
export const useSharedSubscriptionExecution = ({ onSubscriber }: { onSubscriber?: (args: ExecutionArgs) => () => void } = {}): Plugin => {
  // Per event, per operation: the event is the key, so a result lives as long as its event.
  const results = new WeakMap<object, Map<string, Execution>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;
  // Per operation: how many subscribers it has now.
  const subscribers = new Map<string, number>();
  // Per document, per operation name: what graphql-jit made of it, or undefined where it could not.
  const compiled = new WeakMap<DocumentNode, Map<string, CompiledQuery | undefined>>();

  // Flat (flat-string.ts): each subscription holds its key.
  const operationKey = ({ document, operationName, variableValues }: ExecutionArgs): string => {
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
    return flatString(`${id}\n${operationName ?? ''}\n${JSON.stringify(variableValues ?? {})}`);
  };

  const compile = ({ schema, document, operationName }: ExecutionArgs): CompiledQuery | undefined => {
    let byName = compiled.get(document);
    if (!byName) compiled.set(document, (byName = new Map()));
    const name = operationName ?? '';
    if (!byName.has(name)) {
      const query = compileQuery(schema, document, operationName ?? undefined);
      byName.set(name, isCompiledQuery(query) ? query : undefined);
    }
    return byName.get(name);
  };

  const eventExecution = (args: ExecutionArgs): EventExecution => {
    const query = compile(args);
    const variables = args.variableValues ?? {};
    return query ? (event) => query.query(event, args.contextValue, variables) as Execution : (event) => execute({ ...args, rootValue: event });
  };

  const executeShared = (run: EventExecution, key: string, event: unknown): Execution => {
    if (typeof event !== 'object' || event === null) return run(event);
    let byOperation = results.get(event);
    if (!byOperation) results.set(event, (byOperation = new Map()));
    let result = byOperation.get(key);
    if (!result) byOperation.set(key, (result = run(event)));
    return result;
  };

  /** Counts a subscriber of the operation in; answers how to count it out. */
  const join = (key: string): (() => void) => {
    subscribers.set(key, (subscribers.get(key) ?? 0) + 1);
    return () => {
      const left = subscribers.get(key)! - 1;
      if (left === 0) subscribers.delete(key);
      else subscribers.set(key, left);
    };
  };

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in stream)) return stream;
    const key = operationKey(args);
    const run = eventExecution(args);
    const executeEvent = (event: unknown) => (subscribers.get(key)! > 1 ? executeShared(run, key, event) : run(event)) as ExecutionResult | Promise<ExecutionResult>;
    const leave = join(key);
    const ended = onSubscriber?.(args);
    const done = ended
      ? () => {
          leave();
          ended();
        }
      : leave;
    return mapIterator(stream[Symbol.asyncIterator](), executeEvent, done);
  };

  return { onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(subscribe as never) };
};
