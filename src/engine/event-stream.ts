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

/**
 * Podman's own names of events Docker names otherwise, by type. Its Docker API renames `died` to `die` and
 * an image's `remove` to `delete` as it sends them, but keeps a container's `remove` (Docker's `destroy`)
 * and `loadfromarchive` (Docker's `load`, which names the image it loaded; Podman's names only the archive).
 */
const podmanActions: Partial<Record<EngineEventType, Record<string, string>>> = {
  container: { died: 'die', remove: 'destroy' },
  image: { remove: 'delete', loadfromarchive: 'load' },
};

/**
 * The event filter's names for these actions: Docker's, and Podman's for the same events, since Podman
 * matches a filter against its own names before it renames them (`event=die` alone would drop every die).
 */
export function filteredActions(actions: readonly string[]): string[] {
  const podman = Object.values(podmanActions).flatMap((names) => Object.entries(names));
  return [...new Set([...actions, ...podman.filter(([, docker]) => actions.includes(docker)).map(([name]) => name)])];
}

const followedTypes = new Set<string>(['container', 'image', 'service', 'node'] satisfies EngineEventType[]);

/** undefined for an event of another type, which berth does not follow. */
function toEngineEvent(value: unknown): EngineEvent | 'malformed' | undefined {
  const raw = value as RawEngineEvent;
  if (typeof raw.Type !== 'string') return 'malformed';
  if (!followedTypes.has(raw.Type)) return undefined;
  if (typeof raw.Action !== 'string') return 'malformed';
  const type = raw.Type as EngineEventType;
  const { action, detail } = actionOf(raw.Action);
  const named = podmanActions[type]?.[action] ?? action;
  // Only a load may name no image: Podman's names its archive, and a load re-reads every declared image anyway.
  const id = raw.Actor?.ID || raw.id || (named === 'load' ? '' : undefined);
  if (id === undefined) return 'malformed';
  // Podman names an image by its bare hex id, which Docker's events and both engines' inspect prefix with the digest's algorithm.
  const imageId = type === 'image' && /^[0-9a-f]{64}$/.test(id) ? `sha256:${id}` : id;
  const time = raw.timeNano ? new Date(raw.timeNano / 1e6) : raw.time ? new Date(raw.time * 1000) : new Date();
  return { type, action: named, ...(detail !== undefined && { detail }), id: imageId, attributes: raw.Actor?.Attributes ?? {}, time };
}

/** "health_status: healthy" is the action health_status with its detail; a detail may hold colons of its own (exec commands). */
function actionOf(text: string): Pick<EngineEvent, 'action' | 'detail'> {
  const colon = text.indexOf(':');
  if (colon === -1) return { action: text.trim() };
  return { action: text.slice(0, colon).trim(), detail: text.slice(colon + 1).trim() };
}
