import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/listen-on-taken-port.ts', import.meta.url));

// ws hands the HTTP server's errors on to its WebSocketServer: without a listener there from the start, a port in use
// was an uncaught exception rather than listen() rejecting (main's "berth: failed to start").
describe('listen() on a port already in use', () => {
  it('rejects its promise (EADDRINUSE), with no uncaught exception', async () => {
    const outcome = await new Promise<string>((resolve) => {
      execFile(process.execPath, [fixture], { timeout: 30_000 }, (_error, stdout) => resolve(stdout.trim().split('\n').at(-1) ?? ''));
    });
    expect(outcome).toMatch(/^REJECTED listen EADDRINUSE/);
  });
});
