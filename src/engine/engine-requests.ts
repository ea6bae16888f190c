import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import { engineStatusCode, toBerthError, type Redact } from './engine-error.ts';

export interface EngineDeadlines {
  /** Longest wait for a read (version, list, inspect, the events' first answer); default 10 s. */
  readMs?: number;
  /**
   * Longest wait for a change (create, start, unpause, remove; a stop: plus its own timeout), so that a
   * frozen engine never holds a module's lock. Default 60 s.
   */
  writeMs?: number;
}

interface Modem {
  dial(options: object, callback: (error: unknown, data: unknown) => void): void;
}

/**
 * What every resource client shares: the connection, deadlines that abort the request (a frozen engine
 * is left with no request open), and the one conversion of engine failures into berth's errors.
 */
export class EngineRequests {
  readonly docker: Dockerode;
  readonly log: Logger;
  readonly readMs: number;
  readonly #writeMs: number;
  /** Scrubs secrets from the engine's messages: for those that come inside a stream. */
  readonly redact: Redact;

  constructor(docker: Dockerode, log: Logger, { readMs = 10_000, writeMs = 60_000 }: EngineDeadlines, redact: Redact) {
    this.docker = docker;
    this.log = log;
    this.readMs = readMs;
    this.#writeMs = writeMs;
    this.redact = redact;
  }

  read<T>(doing: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#bounded(doing, this.readMs, call);
  }

  /** A read of something that may not exist: undefined when the engine answers 404. */
  async lookup<T>(doing: string, call: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    try {
      return await this.read(doing, call);
    } catch (error) {
      if (engineStatusCode(error) === 404) return undefined;
      throw error;
    }
  }

  /** A GET through dockerode's modem, for inspects whose dockerode method does not pass an abort signal on. */
  get<T>(path: string, abortSignal: AbortSignal): Promise<T> {
    return this.#dial({ path, method: 'GET', abortSignal, statusCodes: getAnswers });
  }

  /** A GET whose body the caller reads as it comes (a whole log, which dockerode would hold at once). */
  getStream(path: string, query: Record<string, unknown>, abortSignal: AbortSignal): Promise<Readable> {
    return this.#dial({ path: `${path}?`, method: 'GET', options: query, abortSignal, isStream: true, statusCodes: getAnswers });
  }

  /**
   * A POST whose answer is a stream (a pull's progress), through dockerode's modem. A refusal is read
   * here as the engine wrote it: dockerode words a refused stream in its own terms and drops the engine's
   * JSON message. `auth` is the X-Registry-Auth header, as the modem sends it.
   */
  async postStream(path: string, query: Record<string, string>, auth: string | undefined, abortSignal: AbortSignal): Promise<IncomingMessage> {
    const options = { path: `${path}?`, method: 'POST', options: query, authconfig: auth && { key: auth }, abortSignal, isStream: true, statusCodes: everyStatus };
    const answer = await this.#dial<IncomingMessage>(options);
    if (answer.statusCode === 200) return answer;
    let body = '';
    for await (const chunk of answer) body += String(chunk);
    throw Object.assign(new Error(body.trim()), { statusCode: answer.statusCode, json: parsedMessage(body) });
  }

  /** A change; `extraMs` adds the engine's own wait (a stop's grace period). */
  write<T>(doing: string, call: (signal: AbortSignal) => Promise<T>, extraMs = 0): Promise<T> {
    return this.#bounded(doing, this.#writeMs + extraMs, call);
  }

  /** A change the engine answers with 304 when it is already done (start, stop): that is success. */
  async idempotentWrite(doing: string, call: (signal: AbortSignal) => Promise<unknown>, extraMs = 0): Promise<void> {
    try {
      await this.write(doing, call, extraMs);
    } catch (error) {
      if (engineStatusCode(error) !== 304) throw error;
    }
  }

  /**
   * A request that streams: the read deadline bounds the wait for the engine's answer, and `until` the
   * stream after it (a deadline left on the request would cut the stream when it passes).
   */
  stream<T>(doing: string, until: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#bounded(doing, this.readMs, call, until);
  }

  /**
   * A request whose body the caller streams at its own pace (an upload): no deadline, since the engine
   * answers only as it reads; `until` (the uploader gone) ends it.
   */
  async upload<T>(doing: string, until: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await call(until);
    } catch (error) {
      throw toBerthError(error, doing, this.redact);
    }
  }

  /** A change that streams its progress (a pull): the write deadline bounds the wait for the engine's answer, and `until` the stream after it. */
  changeStream<T>(doing: string, until: AbortSignal, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return this.#bounded(doing, this.#writeMs, call, until);
  }

  /** A request answered with a body that streams (events, stats): as `stream`, and the body is destroyed when `until` aborts. */
  async follow(doing: string, until: AbortSignal, call: (signal: AbortSignal) => Promise<unknown>): Promise<Readable> {
    const body = (await this.stream(doing, until, call)) as Readable;
    const close = () => body.destroy();
    if (until.aborted) close();
    else until.addEventListener('abort', close, { once: true });
    body.once('close', () => until.removeEventListener('abort', close));
    return body;
  }

  #dial<T>(options: object): Promise<T> {
    const modem = this.docker.modem as Modem;
    return new Promise((resolve, reject) => modem.dial(options, (error, data) => (error ? reject(error) : resolve(data as T))));
  }

  async #bounded<T>(doing: string, deadlineMs: number, call: (signal: AbortSignal) => Promise<T>, until?: AbortSignal): Promise<T> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    try {
      return await call(until ? AbortSignal.any([until, deadline.signal]) : deadline.signal);
    } catch (error) {
      const failure = deadline.signal.aborted ? Object.assign(new Error(`no answer within ${deadlineMs} ms`), { name: 'TimeoutError' }) : error;
      throw toBerthError(failure, doing, this.redact);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** The answers of a GET that the modem hands back rather than fails. */
const getAnswers = { 200: true, 404: 'not found', 500: 'server error' };

/** Every HTTP status, as the modem's list of answers it hands back rather than fails. */
const everyStatus: Record<number, true> = Object.fromEntries(Array.from({ length: 500 }, (_, index) => [100 + index, true]));

/** The engine's `{ "message": … }`, when a refusal's body is that. */
function parsedMessage(body: string): { message: string } | undefined {
  try {
    const { message } = JSON.parse(body) as { message?: unknown };
    return typeof message === 'string' ? { message } : undefined;
  } catch {
    return undefined;
  }
}
