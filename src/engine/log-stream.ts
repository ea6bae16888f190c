import type { Readable } from 'node:stream';
import type { LogLine, LogStream } from './engine-types.ts';

// A container's log as GET /containers/{id}/logs sends it with timestamps=true. Without a TTY it is
// framed: an 8-byte header (stream type; three zero bytes; the payload's length, big-endian) before each
// payload, and each payload is one of the engine's messages. With a TTY it is the messages' raw text one
// after another, all of it stdout. Each message starts with its timestamp (RFC 3339 with nanoseconds) and
// a space. A line longer than the engine's message (16 KiB with json-file) comes as several messages, each
// with the line's timestamp, cut at any byte, even inside a character. The stamps are taken off the bytes
// and a line is decoded once, whole, so that such a character comes through as the log driver kept it
// (json-file itself keeps it as U+FFFD: its messages are JSON strings).

/** The engine's longest message without a newline: with a TTY, a line's stamp can come again only after it. */
const engineMessageBytes = 16 * 1024;

/** A longer line is cut into pieces of this size, so that a container that never prints a newline cannot grow berth's memory. */
export const maxLineBytes = 256 * 1024;

/** The longest stamp read: "2024-05-01T10:00:00.123456789+02:00 ". */
const longestStamp = 36;

const headerBytes = 8;
const newline = 0x0a;
const carriageReturn = 0x0d;
const space = 0x20;

/**
 * The lines of a log stream, a batch per chunk as the engine sends them, until the stream ends. A line the
 * engine wrote without a stamp, before any with one, takes the moment `since` (the log's start), or now.
 */
export async function* logBatches(stream: Readable, tty: boolean, since?: bigint): AsyncGenerator<LogLine[]> {
  if (stream.destroyed) return;
  const log = new LogDemultiplexer(tty, since);
  for await (const chunk of stream) {
    const batch = log.write(chunk as Buffer);
    if (batch.length > 0) yield batch;
  }
  const last = log.end();
  if (last.length > 0) yield last;
}

/**
 * Turns a log's bytes, in chunks cut anywhere (inside a header, a stamp, a line or a character), into lines:
 * one buffer per stream, since a stdout line may be cut by a stderr frame.
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

  /** `since`: the moment of a line without a stamp before any with one; default now. */
  constructor(tty: boolean, since?: bigint) {
    this.#tty = tty;
    const clock = new LogClock(since);
    this.#stdout = new LineBuffer('stdout', clock, tty);
    this.#stderr = new LineBuffer('stderr', clock, tty);
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
        at = this.#readHeader(chunk, at, lines);
        continue;
      }
      const end = Math.min(chunk.length, at + this.#payloadLeft);
      this.#frame.write(chunk, at, end, lines);
      this.#payloadLeft -= end - at;
      at = end;
    }
  }

  /** Reads what the chunk holds of a header from `at`; answers where the chunk goes on. */
  #readHeader(chunk: Buffer, at: number, lines: LogLine[]): number {
    const copied = chunk.copy(this.#header, this.#headerRead, at, at + headerBytes - this.#headerRead);
    this.#headerRead += copied;
    if (this.#headerRead < headerBytes) return at + copied;
    this.#headerRead = 0;
    // 1 is stdout, 2 stderr; 3 is the engine's own error, shown as stderr.
    this.#frame = this.#header[0] === 2 || this.#header[0] === 3 ? this.#stderr : this.#stdout;
    this.#payloadLeft = this.#header.readUInt32BE(4);
    this.#frame.startMessage(lines);
    return at + copied;
  }
}

/** One stream's bytes into lines, keeping the incomplete last line until its newline comes. */
class LineBuffer {
  readonly #stream: LogStream;
  readonly #clock: LogClock;
  /** With a TTY nothing says where a message starts: a long line's repeated stamp is looked for in its bytes. */
  readonly #tty: boolean;
  /** The line's bytes so far, without its stamps (with a TTY, repeated ones are taken out as it is joined). */
  #pieces: Buffer[] = [];
  #length = 0;
  /** The bytes the line has had since its stamp, pieces already delivered included. */
  #lineBytes = 0;
  /** The line's moment, from its first message's stamp; unset until read, or when that message had none. */
  #stamp: Stamp | undefined;
  /** With a TTY, that stamp's bytes, as the engine repeats them in a long line. */
  #stampBytes: Buffer | undefined;
  /** Whether the next bytes start one of the engine's messages, and so may be a stamp. */
  #messageStart = true;
  /** The start of a message held back because a chunk ended before it showed whether it was a stamp. */
  #head: Buffer | undefined;

  constructor(stream: LogStream, clock: LogClock, tty: boolean) {
    this.#stream = stream;
    this.#clock = clock;
    this.#tty = tty;
  }

  /** A frame begins: its payload is one of the engine's messages. */
  startMessage(lines: LogLine[]): void {
    this.#flushHead(lines);
    this.#messageStart = true;
  }

  /** Takes bytes[from, to) of a chunk. */
  write(bytes: Buffer, from: number, to: number, lines: LogLine[]): void {
    let at = from;
    while (at < to) at = this.#messageStart ? this.#readStamp(bytes, at, to, lines) : this.#readText(bytes, at, to, lines);
  }

  end(lines: LogLine[]): void {
    this.#flushHead(lines);
    if (this.#length > 0) this.#finish(lines);
  }

  /** Takes the stamp off the start of a message, if it is one; answers where the chunk goes on. */
  #readStamp(bytes: Buffer, at: number, to: number, lines: LogLine[]): number {
    const head = this.#head;
    const held = head?.length ?? 0;
    const window = head ? Buffer.concat([head, bytes.subarray(at, Math.min(to, at + longestStamp))]) : bytes;
    const start = head ? 0 : at;
    const end = head ? window.length : to;
    const read = this.#clock.read(window, start, end);
    if (read === 'more') {
      this.#head = window.subarray(start, end);
      return to;
    }
    this.#head = undefined;
    this.#messageStart = false;
    if (read === 'text') {
      if (head) this.#append(head, 0, held, lines);
      return at;
    }
    if (!this.#stamp) {
      this.#stamp = read.stamp;
      if (this.#tty) this.#stampBytes = window.subarray(start, start + read.length);
    }
    return at + read.length - held;
  }

  /** Takes text up to the end of the line or of bytes[at, to); answers where the chunk goes on. */
  #readText(bytes: Buffer, at: number, to: number, lines: LogLine[]): number {
    const end = bytes.indexOf(newline, at);
    if (end === -1 || end >= to) {
      this.#append(bytes, at, to, lines);
      return to;
    }
    // Most lines are short and whole in one chunk: decoded where they are.
    if (this.#length === 0 && end - at <= engineMessageBytes) {
      lines.push(this.#line(bytes, at, end > at && bytes[end - 1] === carriageReturn ? end - 1 : end));
      this.#reset();
    } else {
      this.#append(bytes, at, end, lines);
      this.#finish(lines);
    }
    return end + 1;
  }

  /** A held start of a message that turned out not to be a stamp: text of the line. */
  #flushHead(lines: LogLine[]): void {
    const head = this.#head;
    if (!head) return;
    this.#head = undefined;
    this.#messageStart = false;
    this.#append(head, 0, head.length, lines);
  }

  /**
   * Adds bytes[from, to) to the line; delivers pieces of it once it outgrows maxLineBytes, keeping back
   * enough for a stamp whose end has not come yet.
   */
  #append(bytes: Buffer, from: number, to: number, lines: LogLine[]): void {
    if (from === to) return;
    this.#pieces.push(bytes.subarray(from, to));
    this.#length += to - from;
    this.#lineBytes += to - from;
    if (this.#length <= maxLineBytes + longestStamp) return;
    const rest = this.#cut(this.#joined(), longestStamp, lines);
    this.#pieces = [rest];
    this.#length = rest.length;
  }

  /** Delivers the line so far, as its last piece when it is long: its newline came, or the log ended. */
  #finish(lines: LogLine[]): void {
    const bytes = this.#joined();
    const rest = this.#cut(bytes.at(-1) === carriageReturn ? bytes.subarray(0, -1) : bytes, 0, lines);
    lines.push(this.#line(rest, 0, rest.length));
    this.#pieces = [];
    this.#length = 0;
    this.#reset();
  }

  /** Delivers pieces of maxLineBytes, cut between characters, while more than `keep` bytes would be left; answers the rest. */
  #cut(bytes: Buffer, keep: number, lines: LogLine[]): Buffer {
    let rest = bytes;
    while (rest.length > maxLineBytes + keep) {
      const end = characterStart(rest, maxLineBytes);
      lines.push(this.#line(rest, 0, end));
      rest = rest.subarray(end);
    }
    return rest;
  }

  /** The line so far as one buffer; with a TTY, without the repeats of its stamp. */
  #joined(): Buffer {
    const bytes = this.#pieces.length === 1 ? this.#pieces[0]! : Buffer.concat(this.#pieces, this.#length);
    return this.#stampBytes && this.#lineBytes > engineMessageBytes ? withoutCopies(bytes, this.#stampBytes) : bytes;
  }

  /** Ready for the next line. */
  #reset(): void {
    this.#stamp = undefined;
    this.#stampBytes = undefined;
    this.#lineBytes = 0;
    this.#messageStart = true;
  }

  #line(bytes: Buffer, start: number, end: number): LogLine {
    const stamp = (this.#stamp ??= this.#clock.undated());
    const line: LogLine = { stream: this.#stream, text: bytes.toString('utf8', start, end), at: stamp.at, time: stamp.time };
    return stamp.undated ? { ...line, undated: true } : line;
  }
}

/** Where to cut bytes at `end` at the latest without splitting a character: before the one `end` is inside of. */
function characterStart(bytes: Buffer, end: number): number {
  let start = end;
  // A byte 10xxxxxx continues a character; at most three do.
  while (start > end - 3 && (bytes[start]! & 0xc0) === 0x80) start--;
  return start;
}

/** The bytes without any copy of `stamp`. */
function withoutCopies(bytes: Buffer, stamp: Buffer): Buffer {
  const parts: Buffer[] = [];
  let from = 0;
  for (let found = bytes.indexOf(stamp); found !== -1; found = bytes.indexOf(stamp, from)) {
    parts.push(bytes.subarray(from, found));
    from = found + stamp.length;
  }
  return from === 0 ? bytes : Buffer.concat([...parts, bytes.subarray(from)]);
}

/** A moment as the engine stamps it; `undated` when the line had no stamp and takes the moment read before it. */
interface Stamp {
  at: Date;
  time: bigint;
  undated?: true;
}

/** A stamp read at the start of a message, with its length in bytes (its space included); or not a stamp; or not yet known. */
type StampRead = { stamp: Stamp; length: number } | 'text' | 'more';

const timestamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

/** The length of a stamp in the engine's own form, "2024-05-01T10:00:00.123456789Z ", and where its parts are. */
const engineStamp = { length: 31, fraction: 20, zone: 29 };

/**
 * Reads the engine's timestamps; a line without one (an error the engine wrote into the log) takes the last
 * moment read. Lines come thousands to a second: a stamp in the engine's own form within the second read
 * last is read from its bytes, without a regular expression or a date to parse.
 */
class LogClock {
  #last: Stamp;
  /** The last second read in the engine's form ("2024-05-01T10:00:00", UTC; none at first), its epoch seconds and nanoseconds. */
  #second: Buffer | undefined;
  #epochSecond = 0;
  #secondNanos = 0n;

  constructor(since: bigint | undefined) {
    const time = since ?? BigInt(Date.now()) * 1_000_000n;
    this.#last = { at: new Date(Number(time / 1_000_000n)), time };
  }

  /** The moment of a line without a stamp. */
  undated(): Stamp {
    return { ...this.#last, undated: true };
  }

  /** The stamp that bytes[start, end) start with. */
  read(bytes: Buffer, start: number, end: number): StampRead {
    const nanos = this.#nanosInSecond(bytes, start, end);
    if (nanos !== undefined) return { stamp: this.#moment(this.#epochSecond, nanos), length: engineStamp.length };
    const digit = bytes[start]! - 0x30;
    if (digit < 0 || digit > 9) return 'text';
    const limit = Math.min(end, start + longestStamp);
    let stop = start;
    while (stop < limit && bytes[stop] !== space && bytes[stop] !== newline) stop++;
    if (stop === limit) return limit === end && end - start < longestStamp ? 'more' : 'text';
    return bytes[stop] === space ? this.#parse(bytes.toString('latin1', start, stop)) : 'text';
  }

  /** The stamp's nanoseconds, when it is in the engine's own form and within the last second read. */
  #nanosInSecond(bytes: Buffer, start: number, end: number): number | undefined {
    const { length, fraction, zone } = engineStamp;
    const second = this.#second;
    if (!second || end - start < length || second.compare(bytes, start, start + second.length) !== 0) return undefined;
    if (bytes[start + fraction - 1] !== 0x2e || bytes[start + zone] !== 0x5a || bytes[start + length - 1] !== space) return undefined;
    let nanos = 0;
    for (let index = start + fraction; index < start + zone; index++) {
      const digit = bytes[index]! - 0x30;
      if (digit < 0 || digit > 9) return undefined;
      nanos = nanos * 10 + digit;
    }
    return nanos;
  }

  #parse(text: string): StampRead {
    const match = timestamp.exec(text);
    if (!match) return 'text';
    const [, second, fraction = '', zone] = match as unknown as [string, string, string | undefined, string];
    const epochSecond = Date.parse(`${second}${zone}`) / 1000;
    if (zone === 'Z' && fraction.length === 9) this.#remember(second, epochSecond);
    return { stamp: this.#moment(epochSecond, Number(fraction.padEnd(9, '0'))), length: text.length + 1 };
  }

  #remember(second: string, epochSecond: number): void {
    this.#second = Buffer.from(second, 'latin1');
    this.#epochSecond = epochSecond;
    this.#secondNanos = BigInt(epochSecond) * 1_000_000_000n;
  }

  #moment(epochSecond: number, nanos: number): Stamp {
    const secondNanos = epochSecond === this.#epochSecond ? this.#secondNanos : BigInt(epochSecond) * 1_000_000_000n;
    this.#last = { at: new Date(epochSecond * 1000 + Math.floor(nanos / 1e6)), time: secondNanos + BigInt(nanos) };
    return this.#last;
  }
}
