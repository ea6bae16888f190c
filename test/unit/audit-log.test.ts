import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/lib/audit-log.ts';

function capture(file?: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, audit: new AuditLog(pino(sink), { file }) };
}

describe('AuditLog', () => {
  const folders: string[] = [];
  afterEach(async () => {
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  it('writes one line per act, with who, what, outcome and duration', async () => {
    const { lines, audit } = capture();
    await audit.time({ principal: 'ci', role: 'operator', operation: 'applyModule', modules: ['web'] }, async () => 'done', () => 'failed');
    await expect(audit.time({ principal: 'ci', operation: 'applyModule', modules: ['db'] }, () => Promise.reject(new Error('no')), () => 'UPDATE_ROLLED_BACK')).rejects.toThrow('no');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => [line.component, line.msg, (line.audit as { outcome: string }).outcome])).toEqual([
      ['audit', 'applyModule web: ok', 'ok'],
      ['audit', 'applyModule db: UPDATE_ROLLED_BACK', 'UPDATE_ROLLED_BACK'],
    ]);
    expect(lines.every((line) => typeof (line.audit as { durationMs: unknown }).durationMs === 'number')).toBe(true);
  });

  it('appends the same entries to its file, one JSON object a line, after what the file held', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    folders.push(folder);
    const file = join(folder, 'audit.jsonl');
    for (const outcome of ['ok', 'FORBIDDEN']) {
      const { lines, audit } = capture(file);
      audit.write({ principal: 'ci', role: 'viewer', operation: 'stopModule', modules: ['web'], outcome, durationMs: 3, requestId: 'r1' });
      audit.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(lines).toHaveLength(1);
    }
    await expect.poll(async () => (await readFile(file, 'utf8')).split('\n').filter(Boolean).length).toBe(2);
    const written = (await readFile(file, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(written).toMatchObject([
      { principal: 'ci', role: 'viewer', operation: 'stopModule', modules: ['web'], outcome: 'ok', durationMs: 3, requestId: 'r1' },
      { outcome: 'FORBIDDEN' },
    ]);
    expect(Number.isNaN(Date.parse(written[0]!.time as string))).toBe(false);
  });

  it('writes nothing to a silent log, and the file still', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    folders.push(folder);
    const file = join(folder, 'audit.jsonl');
    const lines: string[] = [];
    const audit = new AuditLog(pino({ level: 'silent' }, { write: (line: string) => lines.push(line) }), { file });
    audit.write({ principal: 'ci', operation: 'stopModule', outcome: 'ok', durationMs: 1 });
    audit.close();
    await expect.poll(() => readFile(file, 'utf8')).toContain('"operation":"stopModule"');
    expect(lines).toEqual([]);
  });

  it('refuses a file it cannot append to, naming it', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'berth-audit-'));
    folders.push(folder);
    const file = join(folder, 'missing', 'audit.jsonl');
    expect(() => new AuditLog(pino({ level: 'silent' }), { file })).toThrow(`BERTH_AUDIT_FILE: cannot append to ${file}: ENOENT`);
  });
});
