import { BerthError } from '../errors.ts';

interface DockerodeError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function engineMessage(error: unknown): string {
  const failure = error as DockerodeError;
  return failure.json?.message ?? failure.reason ?? failure.message ?? String(error);
}

export function engineStatusCode(error: unknown): number | undefined {
  return (error as DockerodeError).statusCode;
}

/** The one place where a failed engine call becomes one of berth's errors. */
export function toBerthError(error: unknown, doing: string): BerthError {
  if (error instanceof BerthError) return error;
  const failure = error as DockerodeError;
  if (failure.statusCode === undefined && failure.code && unreachableCodes.has(failure.code)) {
    return new BerthError('ENGINE_UNAVAILABLE', `the Docker engine cannot be reached (${failure.code}) while trying to ${doing}`, { cause: error });
  }
  if (failure.statusCode === undefined && (failure.name === 'AbortError' || failure.name === 'TimeoutError' || /socket hang up|timeout|aborted/i.test(failure.message ?? ''))) {
    return new BerthError('ENGINE_UNAVAILABLE', `the Docker engine cannot be reached (${failure.message}) while trying to ${doing}`, { cause: error });
  }
  return new BerthError('ENGINE_ERROR', `the Docker engine refused to ${doing}: ${engineMessage(error).trim()}`, { cause: error });
}
