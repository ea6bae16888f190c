import type { Readable } from 'node:stream';
import type { EngineEvent, EngineEventType } from './engine-types.ts';
import { jsonLines } from './json-lines.ts';

interface RawEngineEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

/**
 * The engine's event stream, one JSON object a line (see jsonLines); a line that is not an event is
 * passed to onMalformed and skipped.
 */
export function engineEvents(stream: Readable, onMalformed: (line: string) => void = () => {}): AsyncGenerator<EngineEvent> {
  return jsonLines(stream, toEngineEvent, onMalformed);
}

const followedTypes = new Set<string>(['container', 'image', 'service', 'node'] satisfies EngineEventType[]);

/** undefined for an event of another type, which berth does not follow. */
function toEngineEvent(value: unknown): EngineEvent | 'malformed' | undefined {
  const raw = value as RawEngineEvent;
  if (typeof raw.Type !== 'string') return 'malformed';
  if (!followedTypes.has(raw.Type)) return undefined;
  const id = raw.Actor?.ID ?? raw.id;
  if (!id || typeof raw.Action !== 'string') return 'malformed';
  const time = raw.timeNano ? new Date(raw.timeNano / 1e6) : raw.time ? new Date(raw.time * 1000) : new Date();
  return { type: raw.Type as EngineEventType, ...actionOf(raw.Action), id, attributes: raw.Actor?.Attributes ?? {}, time };
}

/** "health_status: healthy" is the action health_status with its detail; a detail may hold colons of its own (exec commands). */
function actionOf(text: string): Pick<EngineEvent, 'action' | 'detail'> {
  const colon = text.indexOf(':');
  if (colon === -1) return { action: text.trim() };
  return { action: text.slice(0, colon).trim(), detail: text.slice(colon + 1).trim() };
}
