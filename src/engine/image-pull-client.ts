import type { Readable } from 'node:stream';
import { BerthError } from '../errors.ts';
import { toBerthError } from './engine-error.ts';
import type { EngineRequests } from './engine-requests.ts';
import { pullParameters } from './image-reference.ts';
import { jsonLines } from './json-lines.ts';

/** How the engine signs in to the registry of a pull. */
export interface RegistryAuth {
  username: string;
  password: string;
  /** The registry host, as the reference names it. */
  serverAddress: string;
}

/**
 * One progress line of a pull. A layer's lines name it (`layer`, the engine's short id) with its status
 * ("Waiting", "Downloading", "Extracting", "Pull complete", "Already exists"…) and, while it moves, the
 * bytes of that phase; the pull's own lines ("Digest: …", "Status: …") name no layer.
 */
export interface PullFrame {
  layer?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface ImagePullClient {
  /**
   * Asks the engine to pull the reference, signed in with `auth` when given, and resolves once the engine
   * has accepted (it has asked the registry for the manifest by then): a refusal is PULL_FAILED with the
   * registry's message. The frames follow until the pull is complete; one that reports a failure ends
   * them with PULL_FAILED. Aborting the signal cancels the pull.
   */
  pull(reference: string, auth: RegistryAuth | undefined, signal: AbortSignal): Promise<AsyncIterable<PullFrame>>;
}

export class DockerImagePullClient implements ImagePullClient {
  readonly #requests: EngineRequests;

  constructor(requests: EngineRequests) {
    this.#requests = requests;
  }

  async pull(reference: string, auth: RegistryAuth | undefined, signal: AbortSignal): Promise<AsyncIterable<PullFrame>> {
    const requests = this.#requests;
    const doing = `pull image ${reference}`;
    let stream: Readable;
    try {
      const header = auth && registryAuthHeader(auth);
      stream = await requests.changeStream(doing, signal, (abortSignal) => requests.postStream('/images/create', pullParameters(reference), header, abortSignal));
    } catch (error) {
      throw pullFailed(reference, error);
    }
    const close = () => stream.destroy();
    if (signal.aborted) close();
    else signal.addEventListener('abort', close, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', close));
    requests.log.debug({ image: reference, registryAuth: auth !== undefined }, 'pulling image');
    return pullFrames(stream, reference, doing, requests);
  }
}

/**
 * X-Registry-Auth: the credentials as JSON in base64url, keeping the "=" padding, which the engine
 * needs: without it the header is ignored, and the pull goes unauthenticated.
 */
export function registryAuthHeader({ username, password, serverAddress }: RegistryAuth): string {
  const json = JSON.stringify({ username, password, serveraddress: serverAddress });
  return Buffer.from(json).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

async function* pullFrames(stream: Readable, reference: string, doing: string, { log, redact }: EngineRequests): AsyncGenerator<PullFrame> {
  const frames = jsonLines(stream, toPullFrame, (line) => log.warn({ image: reference, line: redact(line.slice(0, 200)) }, 'skipped a malformed pull progress line'));
  try {
    for await (const frame of frames) {
      if ('error' in frame) throw new BerthError('PULL_FAILED', `pulling "${reference}" failed: ${redact(frame.error)}`);
      yield frame;
    }
  } catch (error) {
    // A connection that broke mid-way: ENGINE_UNAVAILABLE, as every engine call.
    throw toBerthError(error, doing, redact);
  }
}

interface RawPullFrame {
  status?: unknown;
  id?: unknown;
  progressDetail?: { current?: unknown; total?: unknown };
  error?: unknown;
  errorDetail?: { message?: unknown };
}

/** A frame, or the failure the engine reports in the stream (HTTP 200, then an errorDetail line last). */
function toPullFrame(value: unknown): PullFrame | { error: string } | 'malformed' {
  const raw = value as RawPullFrame;
  const error = raw.errorDetail?.message ?? raw.error;
  if (error !== undefined) return { error: String(error) };
  if (typeof raw.status !== 'string') return 'malformed';
  // Layer lines carry progressDetail; "Pulling from <repository>" names the tag in id, and no layer.
  if (typeof raw.id !== 'string' || typeof raw.progressDetail !== 'object' || raw.progressDetail === null) return { status: raw.status };
  const { current, total } = raw.progressDetail;
  const bytes = typeof current === 'number' && typeof total === 'number' && total > 0 ? { current, total } : {};
  return { layer: raw.id, status: raw.status, ...bytes };
}

/** A refusal before the stream (a wrong password, a missing tag) is the registry's: PULL_FAILED with its message. */
function pullFailed(reference: string, error: unknown): Error {
  if (!(error instanceof BerthError) || error.code !== 'ENGINE_ERROR') return error as Error;
  return new BerthError('PULL_FAILED', `pulling "${reference}" failed: ${error.cause instanceof Error ? error.cause.message.trim() : error.message}`);
}
