import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/lib/audit-log.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, audit: new AuditLog(pino(sink)) };
}

describe('AuditLog', () => {
  it('writes one line per act, with who, what, outcome and duration', async () => {
    const { lines, audit } = capture();
    await audit.time({ who: 'ci', action: 'applyModule', module: 'web' }, async () => 'done', () => 'failed');
    await expect(audit.time({ who: 'ci', action: 'applyModule', module: 'db' }, () => Promise.reject(new Error('no')), () => 'UPDATE_ROLLED_BACK')).rejects.toThrow('no');
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.map((line) => [line.component, line.msg, (line.audit as { outcome: string }).outcome])).toEqual([
      ['audit', 'applyModule web: ok', 'ok'],
      ['audit', 'applyModule db: UPDATE_ROLLED_BACK', 'UPDATE_ROLLED_BACK'],
    ]);
    expect(lines.every((line) => typeof (line.audit as { durationMs: unknown }).durationMs === 'number')).toBe(true);
  });
});
