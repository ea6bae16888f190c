import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/** What a JSON line becomes: a value, undefined to skip it, or 'malformed'. */
export type LineConverter<T> = (value: unknown) => T | undefined | 'malformed';

/**
 * The values of an engine stream that carries one JSON object a line (events, a pull's progress). Lines
 * are reassembled across chunks, so an object split in two, or several in one chunk, parse the same; a
 * line that is not JSON, or that `convert` calls malformed, is passed to onMalformed and skipped.
 */
export async function* jsonLines<T>(stream: Readable, convert: LineConverter<T>, onMalformed: (line: string) => void = () => {}): AsyncGenerator<T> {
  // A stream destroyed before the first next() would leave readline waiting forever.
  if (stream.destroyed) return;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  // readline ends on the stream's 'end' only; a destroyed connection closes without one.
  stream.once('close', () => lines.close());
  for await (const line of lines) {
    if (line.trim() === '') continue;
    const value = convertLine(line, convert);
    if (value === 'malformed') onMalformed(line);
    else if (value !== undefined) yield value;
  }
}

function convertLine<T>(line: string, convert: LineConverter<T>): T | undefined | 'malformed' {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'malformed';
  }
  return typeof value === 'object' && value !== null ? convert(value) : 'malformed';
}
