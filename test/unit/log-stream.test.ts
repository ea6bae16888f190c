import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { LogLine } from '../../src/engine/engine-types.ts';
import { logBatches, LogDemultiplexer, logLines, maxLineBytes } from '../../src/engine/log-stream.ts';

// The engine's stamp before every message: RFC 3339 with nanoseconds, then a space.
const stamp = (nanos: number) => `2026-01-02T03:04:05.${String(nanos).padStart(9, '0')}Z `;
const time = (nanos: number) => BigInt(Date.parse('2026-01-02T03:04:05Z')) * 1_000_000n + BigInt(nanos);

/** One frame of a log without a TTY: 1 stdout or 2 stderr, three zero bytes, the length big-endian, the payload. */
function frame(stream: 1 | 2, payload: string | Buffer): Buffer {
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

  it('gives a line without a stamp (an error the engine wrote into the log) the moment of the line before', () => {
    const log = new LogDemultiplexer(false);
    const lines = [...log.write(frame(1, `${stamp(5)}ok\nError grabbing logs: unexpected EOF\n`)), ...log.end()];
    expect(lines.map((line) => [line.text, line.time])).toEqual([
      ['ok', time(5)],
      ['Error grabbing logs: unexpected EOF', time(5)],
    ]);
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

describe('logBatches and logLines', () => {
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

  it('reads a whole log held at once', () => {
    expect(logLines(Buffer.concat([frame(2, `${stamp(1)}e\n`), frame(1, `${stamp(2)}o`)]), false).map((line) => [line.stream, line.text])).toEqual([
      ['stderr', 'e'],
      ['stdout', 'o'],
    ]);
  });
});
