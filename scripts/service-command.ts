// The command that runs the built service, read from `npm start` so that tests and benchmarks run exactly it.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Compiles src/ to dist/ and bundles the dashboard into dist/dashboard, as `npm start` does first (npm run build). */
export async function buildService(): Promise<void> {
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  const vite = fileURLToPath(new URL('../node_modules/vite/bin/vite.js', import.meta.url));
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root });
  await promisify(execFile)(process.execPath, [vite, 'build', '--config', 'dashboard/vite.config.ts'], { cwd: root });
}

/** `npm start`'s node arguments, with this node: [executable, args]. */
export async function serviceCommand(): Promise<[string, string[]]> {
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const [program, ...args] = manifest.scripts.start.split(/\s+/);
  if (program !== 'node') throw new Error(`npm start must run node, not ${program}`);
  return [process.execPath, args.map((arg) => (arg.startsWith('dist/') ? `${root}${arg}` : arg))];
}
