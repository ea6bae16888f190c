import { BerthError } from '../errors.ts';

interface DockerodeError extends Error {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
  reason?: string;
}

export function engineMessage(error: unknown): string {
  const failure = error as DockerodeError;
  return failure.json?.message ?? failure.reason ?? failure.message ?? String(error);
}

/** The engine's HTTP status of a failed call, also through the BerthError it became. */
export function engineStatusCode(error: unknown): number | undefined {
  const failure = error instanceof BerthError ? error.cause : error;
  return (failure as DockerodeError | undefined)?.statusCode;
}

/** Replaces every secret in a text with [secret]. */
export type Redact = (text: string) => string;

/** Secrets shorter than this are not scrubbed from messages: they could not be told from ordinary words. */
export const shortestScrubbedSecret = 4;

export function redactor(secrets: readonly string[]): Redact {
  // Each secret as written and as the engine's JSON would quote it (Go escapes quotes, backslashes, controls).
  const forms = secrets.filter((secret) => secret.length >= shortestScrubbedSecret).flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]);
  const scrubbed = [...new Set(forms)];
  if (scrubbed.length === 0) return (text) => text;
  // Every occurrence of every secret, merged where they overlap, so that no fragment stays behind.
  return (text) => {
    const spans: [number, number][] = [];
    for (const secret of scrubbed) {
      for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) spans.push([at, at + secret.length]);
    }
    if (spans.length === 0) return text;
    spans.sort((a, b) => a[0] - b[0]);
    let result = '';
    let written = 0;
    let [start, end] = spans[0]!;
    for (const [from, to] of spans.slice(1)) {
      if (from <= end) end = Math.max(end, to);
      else {
        result += `${text.slice(written, start)}[secret]`;
        written = end;
        [start, end] = [from, to];
      }
    }
    return `${result}${text.slice(written, start)}[secret]${text.slice(end)}`;
  };
}

/**
 * The one place where a failed engine call becomes one of berth's errors. The engine's message is
 * passed on with secrets scrubbed; the raw error is not kept as the cause, since logs print causes.
 * A failure that is neither the engine's answer nor a connection's (a bug, say) stays what it is, so
 * that GraphQL masks it rather than passing its message on.
 */
export function toBerthError(error: unknown, doing: string, redact: Redact = (text) => text): Error {
  if (error instanceof BerthError) return error;
  const failure = error as DockerodeError;
  const berthError = classify(failure, doing, redact);
  if (!berthError) return error instanceof Error ? error : new Error(String(error));
  berthError.cause = Object.assign(new Error(redact(engineMessage(error))), { statusCode: httpStatus(failure), code: failure.code });
  return berthError;
}

/**
 * The engine's HTTP status, Podman's read as Docker's: a change the container's state forbids (start a
 * paused one, unpause a running one) is 409 on Docker, 500 "container state improper" on Podman.
 */
function httpStatus(failure: DockerodeError): number | undefined {
  return failure.statusCode === 500 && engineMessage(failure).endsWith('container state improper') ? 409 : failure.statusCode;
}

function classify(failure: DockerodeError, doing: string, redact: Redact): BerthError | undefined {
  if (failure.statusCode !== undefined) {
    return new BerthError('ENGINE_ERROR', `the Docker engine refused to ${doing}: ${redact(engineMessage(failure).trim())}`);
  }
  if (failure.name === 'AbortError' || failure.name === 'TimeoutError' || /socket hang up|timeout|aborted/i.test(failure.message ?? '')) {
    return new BerthError('ENGINE_UNAVAILABLE', `the Docker engine cannot be reached (${redact(failure.message ?? '')}) while trying to ${doing}`);
  }
  // A system or TLS error of the connection (ECONNREFUSED, EMFILE, CERT_HAS_EXPIRED…): its code, never its
  // message, which may name paths and hosts.
  if (typeof failure.code === 'string') {
    return new BerthError('ENGINE_UNAVAILABLE', `the Docker engine cannot be reached (${failure.code}) while trying to ${doing}`);
  }
  return undefined;
}
