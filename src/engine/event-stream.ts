import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { EngineEvent } from './engine-types.ts';

interface RawEngineEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

/**
 * The engine's event stream, one JSON object a line (jsonLines); a line that is not an event is passed
 * to onMalformed and skipped.
 */
export function engineEvents(stream: Readable, onMalformed: (line: string) => void = () => {}): AsyncGenerator<EngineEvent> {
  return jsonLines(stream, toEngineEvent, onMalformed);
}

/**
 * A stream of one JSON value a line (the engine's events, a container's stats), each converted. Lines
 * are reassembled across chunks, so a value split in two, or several values in one chunk, parse the
 * same. A line that is not JSON, or that `convert` calls malformed, is passed to onMalformed and
 * skipped; one it converts to undefined is skipped silently.
 */
export async function* jsonLines<T>(stream: Readable, convert: (value: unknown) => T | 'malformed' | undefined, onMalformed: (line: string) => void = () => {}): AsyncGenerator<T> {
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

function convertLine<T>(line: string, convert: (value: unknown) => T | 'malformed' | undefined): T | 'malformed' | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'malformed';
  }
  return convert(value);
}

/** undefined for an event of another type, which berth does not follow. */
function toEngineEvent(value: unknown): EngineEvent | 'malformed' | undefined {
  const raw = value as RawEngineEvent | null;
  if (typeof raw !== 'object' || raw === null || typeof raw.Type !== 'string') return 'malformed';
  if (raw.Type !== 'container' && raw.Type !== 'image') return undefined;
  const id = raw.Actor?.ID ?? raw.id;
  if (!id || typeof raw.Action !== 'string') return 'malformed';
  const time = raw.timeNano ? new Date(raw.timeNano / 1e6) : raw.time ? new Date(raw.time * 1000) : new Date();
  return { type: raw.Type, ...actionOf(raw.Action), id, attributes: raw.Actor?.Attributes ?? {}, time };
}

/** "health_status: healthy" is the action health_status with its detail; a detail may hold colons of its own (exec commands). */
function actionOf(text: string): Pick<EngineEvent, 'action' | 'detail'> {
  const colon = text.indexOf(':');
  if (colon === -1) return { action: text.trim() };
  return { action: text.slice(0, colon).trim(), detail: text.slice(colon + 1).trim() };
}
