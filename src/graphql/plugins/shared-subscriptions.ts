import { createSourceEventStream, execute, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLError } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import type { Plugin } from 'graphql-yoga';
import { iteratorDone, mapIterator, PushQueue, type QueueFollower } from '../../lib/async-iteration.ts';
import { flatString } from '../../lib/flat-string.ts';

type Execution = ReturnType<typeof execute>;
type EventExecution = (event: unknown) => Execution;

/** A socket's writes, as a subscription delivered straight to it uses them (graphql-ws-sockets.ts). */
export interface FrameSink {
  /** Writes a message; answers whether the socket takes more now. A closed socket drops it and answers true. */
  write(frame: string): boolean;
  /** Calls `drained.resume()` once the socket takes more again. */
  whenDrained(drained: { resume(): void }): void;
}

/** What graphql-ws.ts puts in each of its operations' context: the operation's id and its socket's writes. */
export interface DirectDelivery {
  id: string;
  frames: FrameSink;
}

export interface SharedSubscriptionOptions {
  /** Told of each subscription whose stream opens; answers what to call when it ends (metrics). */
  onSubscriber?: (args: ExecutionArgs) => () => void;
  /**
   * What yoga's error masking makes of an error in an event's result. Required for direct delivery, which
   * passes yoga's per-event hooks by; without it every subscription goes through graphql-ws's loop.
   */
  maskError?: (error: GraphQLError) => GraphQLError;
}

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
 *
 * Over graphql-ws (an operation whose context holds a DirectDelivery), a subscription whose source is a PushQueue
 * is delivered straight to its socket (DirectSubscription): each event's `next` message is written as the event
 * comes, its payload serialised once per event and operation, with no promise, iterator result or message object
 * per subscriber. graphql-ws still runs the protocol: it holds one pending next() for the subscription's life, which
 * answers done when the feed ends (graphql-ws then sends `complete`), and its return() ends the feed. Such events
 * pass by the per-event hooks of envelop's plugins (onSubscribeResult's onNext): berth's only one is yoga's error
 * masking, which `maskError` does here instead. A plugin that needs to see every event must not be added without
 * turning this off.
 */
export const useSharedSubscriptionExecution = ({ onSubscriber, maskError }: SharedSubscriptionOptions = {}): Plugin => {
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

  // Per event, per operation: the `next` payload, serialised, for the subscribers delivered directly.
  const payloads = new WeakMap<object, Map<string, string>>();

  const serialise = (result: ExecutionResult): string => {
    if (!result.errors) return JSON.stringify(result);
    // As yoga's masking and graphql-ws's `next` make it: the errors masked, after the rest.
    const { errors, ...rest } = result;
    return JSON.stringify({ ...rest, errors: errors.map((error) => maskError!(error)) });
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

  /** An event's payload for a directly delivered subscriber: shared by the operation's subscribers when it has several. */
  const payloadOf = (run: EventExecution, key: string, event: unknown): string | Promise<string> => {
    const shared = subscribers.get(key)! > 1 && typeof event === 'object' && event !== null;
    let byOperation = shared ? payloads.get(event) : undefined;
    const kept = byOperation?.get(key);
    if (kept !== undefined) return kept;
    const result = (shared ? executeShared(run, key, event) : run(event)) as ExecutionResult | Promise<ExecutionResult>;
    if (typeof (result as Partial<Promise<ExecutionResult>>).then === 'function') return (result as Promise<ExecutionResult>).then(serialise);
    const payload = serialise(result as ExecutionResult);
    if (shared) {
      if (!byOperation) payloads.set(event, (byOperation = new Map()));
      byOperation.set(key, payload);
    }
    return payload;
  };

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> => {
    const stream = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in stream)) return stream;
    const key = operationKey(args);
    const run = eventExecution(args);
    const leave = join(key);
    const ended = onSubscriber?.(args);
    const done = ended
      ? () => {
          leave();
          ended();
        }
      : leave;
    const direct = (args.contextValue as { direct?: DirectDelivery } | undefined)?.direct;
    if (direct && maskError && stream instanceof PushQueue) {
      return new DirectSubscription(stream as PushQueue<unknown>, (event) => payloadOf(run, key, event), direct, done) as AsyncIterableIterator<never>;
    }
    const executeEvent = (event: unknown) => (subscribers.get(key)! > 1 ? executeShared(run, key, event) : run(event)) as ExecutionResult | Promise<ExecutionResult>;
    return mapIterator(stream[Symbol.asyncIterator](), executeEvent, done);
  };

  return { onSubscribe: ({ setSubscribeFn }) => setSubscribeFn(subscribe as never) };
};

/**
 * A subscription whose events are written straight to its socket as `next` messages, in order: graphql-ws sees an
 * iterator whose one next() answers only when the subscription is over. While the socket holds more than its bound
 * (a subscriber that does not read), or an event's execution is still running, the feed holds the events that come,
 * within its capacity, as it did for graphql-ws's loop; past that it ends, after what it holds, and graphql-ws completes
 * the subscription. An event whose execution fails ends the subscription with graphql-ws's `error` message.
 */
class DirectSubscription implements AsyncIterableIterator<never>, QueueFollower<unknown> {
  readonly #feed: PushQueue<unknown>;
  readonly #payloadOf: (event: unknown) => string | Promise<string>;
  readonly #frames: FrameSink;
  /** The `next` message up to its payload: `{"id":…,"type":"next","payload":`. */
  readonly #head: string;
  #onDone: (() => void) | undefined;
  /** Waiting for the socket to drain, or for an event's execution. */
  #waiting = false;
  /** graphql-ws's one next(), answered when the subscription is over. */
  #over: { resolve: (result: IteratorResult<never, undefined>) => void; reject: (error: unknown) => void } | undefined;
  #started = false;
  #finished = false;

  constructor(feed: PushQueue<unknown>, payloadOf: (event: unknown) => string | Promise<string>, { id, frames }: DirectDelivery, onDone: () => void) {
    this.#feed = feed;
    this.#payloadOf = payloadOf;
    this.#frames = frames;
    this.#head = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
    this.#onDone = onDone;
  }

  /** graphql-ws's loop asks once: the events flow from then on, when it has taken the subscription in. */
  next(): Promise<IteratorResult<never, undefined>> {
    if (this.#finished || this.#over) return Promise.resolve(iteratorDone);
    const over = new Promise<IteratorResult<never, undefined>>((resolve, reject) => (this.#over = { resolve, reject }));
    if (!this.#started) {
      this.#started = true;
      this.#feed.follow(this);
    }
    return over;
  }

  return(): Promise<IteratorResult<never, undefined>> {
    this.#finish();
    return Promise.resolve(iteratorDone);
  }

  throw(error: unknown): Promise<IteratorResult<never, undefined>> {
    this.#finish();
    return Promise.reject(error);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  get ready(): boolean {
    return !this.#waiting && !this.#finished;
  }

  take(event: unknown): void {
    let payload: string | Promise<string>;
    try {
      payload = this.#payloadOf(event);
    } catch (error) {
      return this.#finish(error);
    }
    if (typeof payload === 'string') return this.#send(payload);
    this.#waiting = true;
    payload.then(
      (resolved) => {
        this.#waiting = false;
        if (this.#finished) return;
        this.#send(resolved);
        if (!this.#waiting) this.#feed.resume();
      },
      (error: unknown) => this.#finish(error),
    );
  }

  /** The socket drained: on with what the feed held meanwhile. */
  resume(): void {
    this.#waiting = false;
    if (!this.#finished) this.#feed.resume();
  }

  ended(): void {
    this.#finish();
  }

  #send(payload: string): void {
    let takesMore: boolean;
    try {
      takesMore = this.#frames.write(`${this.#head}${payload}}`);
    } catch (error) {
      return this.#finish(error);
    }
    if (takesMore) return;
    this.#waiting = true;
    this.#frames.whenDrained(this);
  }

  /** Over, once: the feed released, graphql-ws's next() answered (done, or the error it sends), the count taken down. */
  #finish(error?: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    void this.#feed.return();
    const onDone = this.#onDone;
    this.#onDone = undefined;
    onDone?.();
    if (error === undefined) this.#over?.resolve(iteratorDone);
    else this.#over?.reject(error);
  }
}
