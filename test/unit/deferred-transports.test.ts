import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const deferral = fileURLToPath(new URL('../../src/engine/deferred-transports.ts', import.meta.url));

// In a process of its own, as main.ts runs it: the hooks must be in place before dockerode loads.
const script = `
import { createServer } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
await import(${JSON.stringify(deferral)});
const require = createRequire(import.meta.url);
const loaded = () => [...new Set(Object.keys(require.cache).flatMap((path) => /node_modules\\/(ssh2|@grpc\\/grpc-js|protobufjs)\\//.exec(path)?.[1] ?? []))].sort();
const Docker = require('dockerode');
const report = { withDockerode: loaded() };
// A port nobody listens on: both transports must really try it.
const server = createServer().listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));
const { port } = server.address();
await new Promise((resolve) => server.close(resolve));
report.ssh = await new Docker({ protocol: 'ssh', host: '127.0.0.1', port, username: 'berth' }).ping().then(() => 'answered', (error) => error.code);
report.afterSsh = loaded();
const context = mkdtempSync(join(tmpdir(), 'berth-build-'));
writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\\n');
report.build = await new Docker({ protocol: 'http', host: '127.0.0.1', port })
  .buildImage({ context, src: ['Dockerfile'] }, { version: '2' })
  .then(() => 'answered', (error) => error.code);
report.afterBuild = loaded();
console.log(JSON.stringify(report));
`;

describe('deferred dockerode transports', () => {
  it('loads ssh2 and the BuildKit session only when an ssh:// engine or a BuildKit build needs them', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--experimental-strip-types', '--disable-warning=ExperimentalWarning', '--no-deprecation', '--input-type=module', '-e', script],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)) },
    );
    expect(JSON.parse(stdout)).toEqual({
      withDockerode: [],
      ssh: 'ECONNREFUSED',
      afterSsh: ['ssh2'],
      build: 'ECONNREFUSED',
      afterBuild: ['@grpc/grpc-js', 'protobufjs', 'ssh2'],
    });
  });
});
