import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

/**
 * The lines of an engine stream of JSON lines (events, load and pull progress), reassembled across
 * chunks: a line split in two, or several in one chunk, come out the same. Blank lines are skipped.
 */
export async function* jsonLines(stream: Readable): AsyncGenerator<string> {
  // A stream destroyed before the first next() would leave readline waiting forever.
  if (stream.destroyed) return;
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  // readline ends on the stream's 'end' only; a destroyed connection closes without one.
  stream.once('close', () => lines.close());
  for await (const line of lines) if (line.trim() !== '') yield line;
}
