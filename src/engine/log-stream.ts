import type { Readable } from 'node:stream';
import type { LogLine, LogStream } from './engine-types.ts';

// A container's log as GET /containers/{id}/logs sends it with timestamps=true. Without a TTY it is
// framed: an 8-byte header (stream type; three zero bytes; the payload's length, big-endian) before each
// payload. With a TTY it is the raw text, all of it stdout. Either way each of the engine's messages
// starts with its timestamp (RFC 3339 with nanoseconds) and a space; a line longer than the engine's
// message size (16 KiB) comes as several messages, each with that same timestamp.

/** The engine's largest message: only a longer line can come as several, each with its own copy of the stamp. */
const engineMessageBytes = 16 * 1024;

/** A longer line is cut into pieces of this size, so that a container that never prints a newline cannot grow berth's memory. */
export const maxLineBytes = 256 * 1024;

const headerBytes = 8;
const newline = 0x0a;

/** The lines of a log stream, a batch per chunk as the engine sends them, until the stream ends. */
export async function* logBatches(stream: Readable, tty: boolean): AsyncGenerator<LogLine[]> {
  if (stream.destroyed) return;
  const log = new LogDemultiplexer(tty);
  for await (const chunk of stream) {
    const batch = log.write(chunk as Buffer);
    if (batch.length > 0) yield batch;
  }
  const last = log.end();
  if (last.length > 0) yield last;
}

/** The lines of a whole log held at once (a log read without following). */
export function logLines(log: Buffer, tty: boolean): LogLine[] {
  const lines = new LogDemultiplexer(tty);
  return [...lines.write(log), ...lines.end()];
}

/**
 * Turns a log's bytes, in chunks cut anywhere (inside a header, a line or a character), into lines: one
 * buffer per stream, since a stdout line may be cut by a stderr frame.
 */
export class LogDemultiplexer {
  readonly #tty: boolean;
  readonly #stdout: LineBuffer;
  readonly #stderr: LineBuffer;
  /** The header read so far, when a chunk ended inside one. */
  readonly #header = Buffer.alloc(headerBytes);
  #headerRead = 0;
  /** Where the current frame's payload goes, and how many of its bytes are still to come. */
  #frame: LineBuffer;
  #payloadLeft = 0;

  constructor(tty: boolean) {
    this.#tty = tty;
    const clock = new LogClock();
    this.#stdout = new LineBuffer('stdout', clock);
    this.#stderr = new LineBuffer('stderr', clock);
    this.#frame = this.#stdout;
  }

  /** The lines this chunk completes. */
  write(chunk: Buffer): LogLine[] {
    const lines: LogLine[] = [];
    if (this.#tty) this.#stdout.write(chunk, 0, chunk.length, lines);
    else this.#demultiplex(chunk, lines);
    return lines;
  }

  /** What the log ended with: a last line without its newline. */
  end(): LogLine[] {
    const lines: LogLine[] = [];
    this.#stdout.end(lines);
    this.#stderr.end(lines);
    return lines;
  }

  #demultiplex(chunk: Buffer, lines: LogLine[]): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#payloadLeft === 0) {
        at = this.#readHeader(chunk, at);
        continue;
      }
      const end = Math.min(chunk.length, at + this.#payloadLeft);
      this.#frame.write(chunk, at, end, lines);
      this.#payloadLeft -= end - at;
      at = end;
    }
  }

  /** Reads what the chunk holds of a header from `at`; answers where the chunk goes on. */
  #readHeader(chunk: Buffer, at: number): number {
    const copied = chunk.copy(this.#header, this.#headerRead, at, at + headerBytes - this.#headerRead);
    this.#headerRead += copied;
    if (this.#headerRead < headerBytes) return at + copied;
    this.#headerRead = 0;
    // 1 is stdout, 2 stderr; 3 is the engine's own error, shown as stderr.
    this.#frame = this.#header[0] === 2 || this.#header[0] === 3 ? this.#stderr : this.#stdout;
    this.#payloadLeft = this.#header.readUInt32BE(4);
    return at + copied;
  }
}

/** One stream's bytes into lines, keeping the incomplete last line until its newline comes. */
class LineBuffer {
  readonly #stream: LogStream;
  readonly #clock: LogClock;
  #pieces: Buffer[] = [];
  #length = 0;
  /** Set after a line was cut at maxLineBytes: its timestamp, which the rest of the line carries on. */
  #cut: Stamp | undefined;

  constructor(stream: LogStream, clock: LogClock) {
    this.#stream = stream;
    this.#clock = clock;
  }

  /** Takes bytes[from, to) of a chunk. */
  write(bytes: Buffer, from: number, to: number, lines: LogLine[]): void {
    let start = from;
    for (let end = bytes.indexOf(newline, start); end !== -1 && end < to; end = bytes.indexOf(newline, start)) {
      lines.push(this.#line(this.#take(bytes, start, end)));
      start = end + 1;
    }
    if (start === to) return;
    this.#pieces.push(bytes.subarray(start, to));
    this.#length += to - start;
    while (this.#length >= maxLineBytes) lines.push(this.#cutLine());
  }

  end(lines: LogLine[]): void {
    if (this.#length > 0) lines.push(this.#line(this.#take(Buffer.alloc(0), 0, 0)));
  }

  /** The line so far with bytes[start, end) after it, as text; the buffer is left empty. */
  #take(bytes: Buffer, start: number, end: number): string {
    if (this.#length === 0) return bytes.toString('utf8', start, end);
    const text = Buffer.concat([...this.#pieces, bytes.subarray(start, end)]).toString('utf8');
    this.#pieces = [];
    this.#length = 0;
    return text;
  }

  #line(raw: string): LogLine {
    const cut = this.#cut;
    this.#cut = undefined;
    const stamp = cut ?? this.#clock.stamp(raw);
    const text = withoutRepeatedStamps(cut ? raw : raw.slice(stamp.prefix.length), stamp.prefix);
    return { stream: this.#stream, text: text.endsWith('\r') ? text.slice(0, -1) : text, at: stamp.at, time: stamp.time };
  }

  /** The line so far as a piece of its own, cut at a character's boundary; the rest of the line follows as the next piece. */
  #cutLine(): LogLine {
    const bytes = Buffer.concat(this.#pieces);
    const cut = this.#cut;
    const stamp = cut ?? this.#clock.stamp(bytes.toString('utf8', 0, 64));
    const end = cutAt(bytes, stamp.prefix);
    this.#pieces = [bytes.subarray(end)];
    this.#length = bytes.length - end;
    this.#cut = stamp;
    const piece = bytes.toString('utf8', cut ? 0 : Buffer.byteLength(stamp.prefix), end);
    return { stream: this.#stream, text: withoutRepeatedStamps(piece, stamp.prefix), at: stamp.at, time: stamp.time };
  }
}

/**
 * Where to cut a line at maxLineBytes: on a character's boundary, and before the start of a repeated
 * engine timestamp that the cut would split in two, so that the next piece holds it whole.
 */
function cutAt(bytes: Buffer, prefix: string): number {
  let end = maxLineBytes;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  const stamp = Buffer.from(prefix);
  for (let length = Math.min(stamp.length - 1, end); length > 0; length--) {
    if (bytes.subarray(end - length, end).equals(stamp.subarray(0, length))) return end - length;
  }
  return end;
}

/** A moment as the engine stamps it: the text it wrote before the line ("2024-05-01T10:00:00.123456789Z "), and what that says. */
interface Stamp {
  prefix: string;
  at: Date;
  time: bigint;
}

const timestamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d) /;

/** The length of a stamp in the engine's own form, "2024-05-01T10:00:00.123456789Z ", and where its parts are. */
const engineStamp = { length: 31, fraction: 20, zone: 29 };

/**
 * Reads the engine's timestamps; a line without one (an error the engine wrote into the log) takes the last
 * line's moment. Lines come thousands to a second: a stamp in the engine's own form within the second read
 * last is read from its characters, without a regular expression or a date to parse.
 */
class LogClock {
  #last: Stamp = { prefix: '', at: new Date(0), time: 0n };
  /** The last second read in the engine's form ("2024-05-01T10:00:00", UTC; none at first), its epoch seconds and nanoseconds. */
  #second = 'none';
  #epochSecond = 0;
  #secondNanos = 0n;

  stamp(raw: string): Stamp {
    const nanos = this.#nanosInSecond(raw);
    if (nanos !== undefined) return this.#moment(raw.slice(0, engineStamp.length), this.#epochSecond, nanos);
    const match = timestamp.exec(raw);
    if (!match) return { ...this.#last, prefix: '' };
    const [prefix, second, fraction = '', zone] = match as unknown as [string, string, string | undefined, string];
    const epochSecond = Date.parse(`${second}${zone}`) / 1000;
    if (zone === 'Z' && fraction.length === 9) this.#remember(second, epochSecond);
    return this.#moment(prefix, epochSecond, Number(fraction.padEnd(9, '0')));
  }

  /** The stamp's nanoseconds, when it is in the engine's own form and within the last second read. */
  #nanosInSecond(raw: string): number | undefined {
    const { length, fraction, zone } = engineStamp;
    if (raw.length < length || raw.charCodeAt(zone) !== 0x5a || raw.charCodeAt(length - 1) !== 0x20 || raw.charCodeAt(fraction - 1) !== 0x2e || !raw.startsWith(this.#second)) return undefined;
    let nanos = 0;
    for (let index = fraction; index < zone; index++) {
      const digit = raw.charCodeAt(index) - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      nanos = nanos * 10 + digit;
    }
    return nanos;
  }

  #remember(second: string, epochSecond: number): void {
    this.#second = second;
    this.#epochSecond = epochSecond;
    this.#secondNanos = BigInt(epochSecond) * 1_000_000_000n;
  }

  #moment(prefix: string, epochSecond: number, nanos: number): Stamp {
    const secondNanos = epochSecond === this.#epochSecond ? this.#secondNanos : BigInt(epochSecond) * 1_000_000_000n;
    this.#last = { prefix, at: new Date(epochSecond * 1000 + Math.floor(nanos / 1e6)), time: secondNanos + BigInt(nanos) };
    return this.#last;
  }
}

/**
 * A line that came as several of the engine's messages holds their repeated timestamp: taken out. Only a line
 * of more than a message's bytes can, which is at least a third as many UTF-16 units: shorter ones are not searched.
 */
function withoutRepeatedStamps(text: string, prefix: string): string {
  return text.length > engineMessageBytes / 3 && prefix !== '' && text.includes(prefix) ? text.replaceAll(prefix, '') : text;
}
