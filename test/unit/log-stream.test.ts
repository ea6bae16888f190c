import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/engine/engine-types.ts';
import { logBatches, LogDemultiplexer, maxLineBytes } from '../../src/engine/log-stream.ts';

// The engine's stamp before every message: RFC 3339 with nanoseconds, then a space.
const stamp = (nanos: number) => `2026-01-02T03:04:05.${String(nanos).padStart(9, '0')}Z `;
const time = (nanos: number) => BigInt(Date.parse('2026-01-02T03:04:05Z')) * 1_000_000n + BigInt(nanos);

/** One frame of a log without a TTY: 1 stdout, 2 stderr or 3 the engine's error, three zero bytes, the length big-endian, the payload. */
function frame(stream: 1 | 2 | 3, payload: string | Buffer): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** The lines of these chunks, as [stream, text] pairs. */
function read(chunks: Buffer[], tty = false): [string, string][] {
  const log = new LogDemultiplexer(tty);
  const lines = [...chunks.flatMap((chunk) => log.write(chunk)), ...log.end()];
  return lines.map((line) => [line.stream, line.text]);
}

/** The bytes in chunks of `size`. */
const chunked = (bytes: Buffer, size: number) => Array.from({ length: Math.ceil(bytes.length / size) }, (_, index) => bytes.subarray(index * size, (index + 1) * size));

/** The bytes cut into single bytes: every header, line and character split at every place. */
const bytewise = (bytes: Buffer) => [...bytes].map((byte) => Buffer.from([byte]));

/**
 * A line's messages as the engine (json-file) sends a line longer than its 16 KiB message: cut every 16,384
 * bytes, inside a character too, each with the line's stamp; the last one with the line's end.
 */
function engineMessages(line: Buffer, moment: string, end = '\n'): Buffer[] {
  const messages: Buffer[] = [];
  for (let at = 0; at <= line.length; at += 16_384) {
    const last = at + 16_384 > line.length;
    messages.push(Buffer.concat([Buffer.from(moment), line.subarray(at, at + 16_384), Buffer.from(last ? end : '')]));
  }
  return messages;
}

/** The lines of these chunks, as texts and the moments they have. */
function readLines(chunks: readonly Buffer[], tty = false): { text: string; time: bigint }[] {
  const log = new LogDemultiplexer(tty);
  return [...chunks.flatMap((chunk) => log.write(chunk)), ...log.end()].map(({ text, time }) => ({ text, time }));
}

describe('the engine log stream without a TTY (frames)', () => {
  const stdout = frame(1, `${stamp(1)}one\n${stamp(2)}two\n`);
  const stderr = frame(2, `${stamp(3)}three\n`);

  it('reads several lines of a frame, each with its stream and the moment the engine stamped, to the nanosecond', () => {
    const log = new LogDemultiplexer(false);
    const lines = log.write(Buffer.concat([stdout, stderr]));
    expect(lines).toEqual<LogLine[]>([
      { stream: 'stdout', text: 'one', at: new Date('2026-01-02T03:04:05.000Z'), time: time(1) },
      { stream: 'stdout', text: 'two', at: new Date('2026-01-02T03:04:05.000Z'), time: time(2) },
      { stream: 'stderr', text: 'three', at: new Date('2026-01-02T03:04:05.000Z'), time: time(3) },
    ]);
    expect(log.end()).toEqual([]);
  });

  it('reads the same lines whatever the chunks: headers, lines and characters split anywhere', () => {
    const bytes = Buffer.concat([stdout, frame(1, `${stamp(4)}café €\n`), stderr]);
    const whole = read([bytes]);
    expect(whole.map(([, text]) => text)).toEqual(['one', 'two', 'café €', 'three']);
    expect(read(bytewise(bytes))).toEqual(whole);
    for (let cut = 1; cut < bytes.length; cut++) expect(read([bytes.subarray(0, cut), bytes.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
  });

  it('joins a line that spans frames, also when a frame of the other stream comes between', () => {
    const chunks = [frame(1, `${stamp(1)}hel`), frame(2, `${stamp(2)}err\n`), frame(1, 'lo wor'), frame(1, 'ld\n')];
    expect(read(chunks)).toEqual([
      ['stderr', 'err'],
      ['stdout', 'hello world'],
    ]);
  });

  it('takes CRLF endings off, and keeps empty lines', () => {
    expect(read([frame(1, `${stamp(1)}dos\r\n${stamp(2)}\n${stamp(3)}\r\n`)])).toEqual([
      ['stdout', 'dos'],
      ['stdout', ''],
      ['stdout', ''],
    ]);
  });

  it('delivers a last line without a newline when the log ends', () => {
    const log = new LogDemultiplexer(false);
    expect(log.write(frame(1, `${stamp(1)}done\n${stamp(2)}no newline`))).toHaveLength(1);
    expect(log.end()).toEqual([expect.objectContaining({ text: 'no newline', time: time(2) })]);
  });

  it('joins a line the engine sent as several messages, each stamped alike, without the repeated stamps', () => {
    // As the engine sends a line longer than its 16 KiB message: one frame per message, the same stamp on each.
    const parts = ['a'.repeat(16_384), 'b'.repeat(16_384), 'c'.repeat(100)];
    const frames = parts.map((part, index) => frame(1, `${stamp(7)}${part}${index === parts.length - 1 ? '\n' : ''}`));
    expect(read(frames)).toEqual([['stdout', parts.join('')]]);
    expect(read(chunked(Buffer.concat(frames), 1_000))).toEqual([['stdout', parts.join('')]]);
    // Characters of three bytes: a message of 15,000 bytes is 5,000 characters.
    const euros = ['€'.repeat(5_000), '€'.repeat(600)];
    expect(read([frame(1, `${stamp(8)}${euros[0]}`), frame(1, `${stamp(8)}${euros[1]}\n`)])).toEqual([['stdout', euros.join('')]]);
  });

  // Messages of 29,095 characters put the cut at maxLineBytes 10 bytes into a repeated stamp.
  it.each([16_384, 29_095])('cuts a line longer than maxLineBytes into pieces of one moment, none holding a stamp or part of one (messages of %i)', (size) => {
    const text = Array.from({ length: 40 }, (_, index) => String(index % 10).repeat(16_384)).join('');
    const messages = text.match(new RegExp(`.{1,${size}}`, 'gs'))!.map((part, index, all) => frame(1, `${stamp(9)}${part}${index === all.length - 1 ? '\n' : ''}`));
    const log = new LogDemultiplexer(false);
    const lines = [...chunked(Buffer.concat(messages), 65_536).flatMap((chunk) => log.write(chunk)), ...log.end()];
    expect(lines.length).toBe(Math.ceil(text.length / maxLineBytes));
    expect(lines.every((line) => line.time === time(9) && Buffer.byteLength(line.text) <= maxLineBytes && !line.text.includes('2026-'))).toBe(true);
    expect(lines.map((line) => line.text).join('')).toBe(text);
  });

  it('reads each moment right across seconds, and stamps of other forms (a shorter fraction, a zone)', () => {
    const log = new LogDemultiplexer(false);
    const stamps = ['2026-01-02T03:04:05.999999999Z', '2026-01-02T03:04:06.000000001Z', '2026-01-02T03:04:06.5Z', '2026-01-02T05:04:06.000000002+02:00', '2026-01-02T03:04:06Z', '2026-01-02T03:04:06.000000003Z'];
    const lines = log.write(frame(1, stamps.map((moment, index) => `${moment} ${index}\n`).join('')));
    const second = time(0) / 1_000_000_000n;
    expect(lines.map((line) => [line.text, line.time - second * 1_000_000_000n, line.at.toISOString()])).toEqual([
      ['0', 999_999_999n, '2026-01-02T03:04:05.999Z'],
      ['1', 1_000_000_001n, '2026-01-02T03:04:06.000Z'],
      ['2', 1_500_000_000n, '2026-01-02T03:04:06.500Z'],
      ['3', 1_000_000_002n, '2026-01-02T03:04:06.000Z'],
      ['4', 1_000_000_000n, '2026-01-02T03:04:06.000Z'],
      ['5', 1_000_000_003n, '2026-01-02T03:04:06.000Z'],
    ]);
  });

  it('gives a line without a stamp (an error the engine wrote into the log) the moment read before it, or the moment the log was read from, and marks it', () => {
    const since = time(1);
    const log = new LogDemultiplexer(false, since);
    const chunks = [frame(3, 'Error grabbing logs: unexpected EOF\n'), frame(1, `${stamp(5)}ok\n`), frame(3, 'Error grabbing logs: unexpected EOF\n')];
    const lines = [...chunks.flatMap((chunk) => log.write(chunk)), ...log.end()];
    expect(lines.map((line) => [line.stream, line.text, line.time, line.undated])).toEqual([
      ['stderr', 'Error grabbing logs: unexpected EOF', since, true],
      ['stdout', 'ok', time(5), undefined],
      ['stderr', 'Error grabbing logs: unexpected EOF', time(5), true],
    ]);
    expect(lines[0]!.at).toEqual(new Date(Number(since / 1_000_000n)));
  });

  it('dates a line without a stamp, before any with one, now when the log was read from its start', () => {
    const before = Date.now();
    const [line] = readLines([frame(3, 'Error grabbing logs: unexpected EOF\n')]);
    expect(Number(line!.time / 1_000_000n)).toBeGreaterThanOrEqual(before);
  });
});

describe('lines longer than the engine\'s message', () => {
  it('keeps a character the engine cut between two messages whole: stamps come off the bytes before a line is decoded', () => {
    const line = Buffer.from(`${'x'.repeat(16_383)}€END`);
    const messages = engineMessages(line, stamp(7));
    expect(messages[0]!.at(-1)).toBe(0xe2);
    const frames = Buffer.concat(messages.map((message) => frame(1, message)));
    for (const chunks of [[frames], chunked(frames, 1_000), chunked(frames, 16_400)]) expect(readLines(chunks)).toEqual([{ text: line.toString(), time: time(7) }]);
    const tty = Buffer.concat(engineMessages(line, stamp(7), '\r\n'));
    for (const chunks of [[tty], chunked(tty, 1_000), chunked(tty, 16_410)]) expect(readLines(chunks, true)).toEqual([{ text: line.toString(), time: time(7) }]);
  });

  it('with a TTY, finds the repeated stamp after a message json-file made longer (it keeps a byte that is not UTF-8 as U+FFFD)', () => {
    // As the engine 20.10 sent the line above with a TTY: the cut character's bytes, each as U+FFFD, 16,386 bytes before the stamp.
    const bytes = Buffer.from(`${stamp(7)}${'x'.repeat(16_383)}\ufffd${stamp(7)}\ufffd\ufffdEND\r\n${stamp(8)}next\r\n`);
    const expected = [
      { text: `${'x'.repeat(16_383)}\ufffd\ufffd\ufffdEND`, time: time(7) },
      { text: 'next', time: time(8) },
    ];
    for (const size of [bytes.length, 1_000, 7]) expect(readLines(chunked(bytes, size), true)).toEqual(expected);
  });

  it('leaves no stamp in any piece of a line longer than maxLineBytes, the short last one included', () => {
    const line = Buffer.from('y'.repeat(16 * 16_384 + 100));
    const frames = Buffer.concat(engineMessages(line, stamp(9)).map((message) => frame(1, message)));
    const tty = Buffer.concat(engineMessages(line, stamp(9), '\r\n'));
    for (const [chunks, isTty] of [[[frames], false], [chunked(frames, 65_536), false], [[tty], true], [chunked(tty, 65_536), true]] as const) {
      const pieces = readLines(chunks, isTty);
      expect(pieces.map(({ text }) => text.length)).toEqual([maxLineBytes, 16 * 16_384 + 100 - maxLineBytes]);
      expect(pieces.every(({ time: moment }) => moment === time(9))).toBe(true);
      expect(pieces.map(({ text }) => text).join('')).toBe(line.toString());
    }
  });

  it('adds no empty piece when a line of exactly maxLineBytes ends in the next chunk', () => {
    const line = Buffer.from('z'.repeat(maxLineBytes));
    // The engine's last message of such a line holds only its stamp and newline.
    const messages = engineMessages(line, stamp(3));
    expect(messages.at(-1)!.toString()).toBe(`${stamp(3)}\n`);
    const frames = messages.map((message) => frame(1, message));
    expect(readLines([Buffer.concat(frames.slice(0, -1)), frames.at(-1)!]).map(({ text }) => text)).toEqual([line.toString()]);
    const tty = Buffer.concat(engineMessages(line, stamp(3), '\r\n'));
    expect(readLines([tty.subarray(0, -2), tty.subarray(-2, -1), tty.subarray(-1)], true).map(({ text }) => text)).toEqual([line.toString()]);
  });

  it('never delivers a piece longer than maxLineBytes, nor cuts a character, wherever the chunks end', () => {
    // The character at maxLineBytes starts a byte before it: the first piece ends before it.
    const line = `a${'é'.repeat(maxLineBytes / 2)}${'z'.repeat(60_000)}`;
    const bytes = frame(1, `${stamp(4)}${line}\n`);
    const lineStart = 8 + 31;
    for (const cut of [lineStart + maxLineBytes - 32, lineStart + maxLineBytes - 1, lineStart + maxLineBytes, lineStart + maxLineBytes + 1, bytes.length - 1]) {
      const pieces = readLines([bytes.subarray(0, cut), bytes.subarray(cut)]).map(({ text }) => text);
      expect(pieces.map((piece) => Buffer.byteLength(piece)), `cut at ${cut}`).toEqual([maxLineBytes - 1, Buffer.byteLength(line) - maxLineBytes + 1]);
      expect(pieces.join('')).toBe(line);
    }
  });
});

describe('the engine log stream with a TTY (raw text)', () => {
  it('reads lines without frames, all of them stdout, with CRLF endings off, cut anywhere', () => {
    const bytes = Buffer.from(`${stamp(1)}prompt> ls\r\n${stamp(2)}файл\r\n${stamp(3)}last`);
    const expected = [
      ['stdout', 'prompt> ls'],
      ['stdout', 'файл'],
      ['stdout', 'last'],
    ];
    expect(read([bytes], true)).toEqual(expected);
    expect(read(bytewise(bytes), true)).toEqual(expected);
  });

  it('takes out the repeated stamps of a long line the engine sent as several messages', () => {
    const bytes = Buffer.from(`${stamp(1)}${'x'.repeat(16_384)}${stamp(1)}${'y'.repeat(10)}\r\n`);
    expect(read([bytes], true)).toEqual([['stdout', `${'x'.repeat(16_384)}${'y'.repeat(10)}`]]);
  });
});

describe('logBatches', () => {
  it('yields the lines of each chunk as a batch, and the last line when the stream ends', async () => {
    const stream = new PassThrough();
    const batches: string[][] = [];
    const reading = (async () => {
      for await (const batch of logBatches(stream, false)) batches.push(batch.map((line) => line.text));
    })();
    stream.write(frame(1, `${stamp(1)}a\n${stamp(2)}b\n${stamp(3)}c`));
    stream.end(frame(1, `-d`));
    await reading;
    expect(batches).toEqual([['a', 'b'], ['c-d']]);
  });

  it('reads nothing from a stream destroyed before the first read', async () => {
    const stream = Readable.from([frame(1, `${stamp(1)}a\n`)]);
    stream.destroy();
    const batches: LogLine[][] = [];
    for await (const batch of logBatches(stream, false)) batches.push(batch);
    expect(batches).toEqual([]);
  });
});
