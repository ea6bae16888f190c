import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { mapIterator } from '../../lib/async-iteration.ts';

type Execution = ReturnType<typeof execute>;

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
 *
 * Sharing is sound because subscription fields resolve from the event and berth's own state alone:
 * no field below Subscription reads who asked, so who asks does not change the answer.
 */
export const useSharedSubscriptionExecution = (): Plugin => {
  // Per event, per operation: the event is the key, so a result lives as long as its event.
  const results = new WeakMap<object, Map<string, Execution>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 0;

  const operationKey = ({ document, operationName, variableValues }: ExecutionArgs): string => {
    let id = documentIds.get(document);
    if (id === undefined) documentIds.set(document, (id = nextDocumentId++));
    return `${id}\n${operationName ?? ''}\n${JSON.stringify(variableValues ?? {})}`;
  };

  const executeShared = (args: ExecutionArgs, key: string, event: unknown): Execution => {
    if (typeof event !== 'object' || event === null) return execute({ ...args, rootValue: event });
    let byOperation = results.get(event);
    if (!byOperation) results.set(event, (byOperation = new Map()));
    let result = byOperation.get(key);
    if (!result) byOperation.set(key, (result = execute({ ...args, rootValue: event })));
    return result;
  };

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in stream)) return stream;
    const key = operationKey(args);
    return mapIterator(stream[Symbol.asyncIterator](), (event) => executeShared(args, key, event) as ExecutionResult | Promise<ExecutionResult>);
  };

  return { onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(subscribe as never) };
};
