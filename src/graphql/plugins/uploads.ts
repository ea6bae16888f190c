import { Readable } from 'node:stream';
import { Busboy, type BusboyFileStream } from '@fastify/busboy';
import { createGraphQLError, type FetchAPI, type GraphQLParams, type Plugin } from 'graphql-yoga';

/**
 * A file of a GraphQL multipart request, still arriving: read it once, as it comes. Its stream fails
 * when the request is cut short or the file passes the upload limit.
 */
export class UploadedFile {
  readonly name: string;
  readonly type: string;
  readonly #stream: Readable;

  constructor(name: string, type: string, stream: Readable) {
    this.name = name;
    this.type = type;
    this.#stream = stream;
  }

  stream(): Readable {
    return this.#stream;
  }
}

export interface BodyLimits {
  /** Any request body, and the operations and map fields of a multipart request. */
  bodyBytes: number;
  /** A file uploaded with a multipart request. */
  uploadBytes: number;
}

/**
 * Request body limits, and the GraphQL multipart request (file uploads) parsed as it streams: yoga's own
 * parser holds every file whole in memory before the operation runs, which a multi-gigabyte image archive
 * must not. Here the operation runs as soon as its file begins, and the resolver reads the file from the
 * request as it arrives. One file per request; operations and map come first, as the spec orders them.
 */
export function useBodyLimitsAndStreamedUploads(limits: BodyLimits): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser, fetchAPI, serverContext }) {
      const multipart = request.method === 'POST' && /^multipart\/form-data/i.test(request.headers.get('content-type') ?? '');
      checkContentLength(request, multipart ? limits.uploadBytes + limits.bodyBytes : limits.bodyBytes);
      // Node's own request, where there is one (the HTTP server): read directly, without a web stream between.
      const nodeRequest = (serverContext as { req?: unknown } | undefined)?.req;
      if (multipart) setRequestParser((incoming) => parseMultipart(incoming, nodeRequest instanceof Readable ? nodeRequest : bodyOf(incoming), limits));
      else if (requestParser && request.body) setRequestParser((incoming) => requestParser(limitBody(incoming, limits.bodyBytes, fetchAPI)));
    },
  };
}

function checkContentLength(request: Request, limit: number): void {
  const length = request.headers.get('content-length');
  if (length === null) return;
  if (!/^\d+$/.test(length)) throw httpError(400, 'BAD_REQUEST', 'Content-Length header is invalid');
  if (Number(length) > limit) throw tooLarge(limit);
}

/**
 * A body without (or with a false) Content-Length is counted as it is read. The server's body is
 * whatwg-node's stream: it is piped through whatwg-node's TransformStream, not Node's.
 */
function limitBody(request: Request, limit: number, fetchAPI: FetchAPI): Request {
  let read = 0;
  const counted = request.body!.pipeThrough(
    new fetchAPI.TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        read += chunk.byteLength;
        if (read > limit) controller.error(tooLarge(limit));
        else controller.enqueue(chunk);
      },
    }),
  );
  return new fetchAPI.Request(request.url, { method: request.method, headers: request.headers, signal: request.signal, body: counted, duplex: 'half' } as RequestInit);
}

/** The server's body is whatwg-node's stream, which iterates as Node's Readable.from expects. */
function bodyOf(request: Request): Readable {
  return Readable.from((request.body ?? []) as AsyncIterable<Uint8Array>);
}

function parseMultipart(request: Request, body: Readable, { bodyBytes, uploadBytes }: BodyLimits): Promise<GraphQLParams> {
  return new Promise((resolve, reject) => {
    let operations: GraphQLParams | undefined;
    let map: Record<string, string[]> = {};
    let file: BusboyFileStream | undefined;
    let running = false;
    const fail = (error: Error) => {
      // Before the operation runs, the request fails, and the file (no one reads it) is let go; after, its reader fails.
      if (running) file?.destroy(error);
      else file?.resume();
      reject(error);
    };
    const busboy = Busboy({ headers: { 'content-type': request.headers.get('content-type')! }, limits: { fieldSize: bodyBytes, fields: 2, files: 1, fileSize: uploadBytes } });
    busboy.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) return fail(tooLarge(bodyBytes));
      const parsed = parseField(name, value);
      if (parsed instanceof Error) return fail(parsed);
      if (name === 'operations') operations = parsed as GraphQLParams;
      else map = parsed as Record<string, string[]>;
    });
    busboy.on('file', (name, stream, filename, _encoding, mimeType) => {
      if (!operations) return fail(badMultipart('the "operations" field must come before the files'));
      file = stream;
      stream.on('limit', () => stream.destroy(tooLarge(uploadBytes)));
      const upload = new UploadedFile(filename, mimeType, stream);
      const paths = map[name] ?? [];
      const wrong = paths.find((path) => !variablePath.test(path));
      if (wrong !== undefined) return fail(badMultipart(`map path "${wrong}" must name a variable, such as variables.file`));
      for (const path of paths) setPath(operations, path, upload);
      running = true;
      resolve(operations);
    });
    busboy.on('filesLimit', () => fail(badMultipart('one file per request')));
    busboy.on('finish', () => (operations ? resolve(operations) : fail(badMultipart('missing the "operations" field'))));
    busboy.on('error', (error) => fail(badMultipart(error instanceof Error ? error.message : String(error))));
    body.on('error', (error) => fail(badMultipart(`the upload was cut short (${error.message})`)));
    body.pipe(busboy);
  });
}

function parseField(name: string, value: string): unknown {
  if (name !== 'operations' && name !== 'map') return badMultipart(`unknown field "${name}"; expected operations, map and one file`);
  try {
    return JSON.parse(value);
  } catch {
    return badMultipart(`the "${name}" field must be JSON`);
  }
}

/** Where the map may put a file: a variable, or an item of a list variable (never __proto__ and the like). */
const variablePath = /^variables\.[A-Za-z_]\w*(\.\d+)?$/;

/** Puts the file where the map says, such as "variables.file". */
function setPath(target: object, path: string, value: unknown): void {
  const keys = path.split('.');
  let holder = target as Record<string, unknown>;
  for (const key of keys.slice(0, -1)) holder = (holder[key] ??= {}) as Record<string, unknown>;
  holder[keys.at(-1)!] = value;
}

function tooLarge(limit: number) {
  return httpError(413, 'REQUEST_ENTITY_TOO_LARGE', `the request body is larger than ${limit} bytes`);
}

function badMultipart(message: string) {
  return httpError(400, 'BAD_REQUEST', `invalid multipart upload: ${message}`);
}

function httpError(status: number, code: string, message: string) {
  return createGraphQLError(message, { extensions: { code, http: { status } } });
}
