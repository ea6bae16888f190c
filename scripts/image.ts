// npm run image: builds berth:local from the repository's Dockerfile. Where the registry cannot be
// reached and node:24-slim is not on the engine, it first builds a local stand-in under that name
// (Node 24 and npm on glibc, a static busybox for the shell, the node user), so that the real
// Dockerfile builds unchanged.
import { execFile, spawn } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { findBusybox } from './busybox-images.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
export const baseImage = 'node:24-slim';
/** Raised when the stand-in gains something the build needs: a stand-in of an older revision is built again. */
const standInRevision = '2';

/** Makes sure the Dockerfile's base image is on the engine: pulled, or else a local stand-in. */
export async function ensureBaseImage(docker = new Dockerode()): Promise<'present' | 'pulled' | 'stand-in'> {
  const labels = await docker.getImage(baseImage).inspect().then((image) => image.Config.Labels ?? {}, () => undefined);
  const standIn = labels?.['org.berth.stand-in'] !== undefined;
  if (labels && (!standIn || labels['org.berth.stand-in-revision'] === standInRevision)) return 'present';
  if (standIn) {
    await buildStandIn();
    return 'stand-in';
  }
  try {
    await run('docker', ['pull', baseImage], { timeout: 60_000 });
    return 'pulled';
  } catch {
    await buildStandIn();
    return 'stand-in';
  }
}

async function buildStandIn(): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'berth-node-base-'));
  try {
    const rootfs = join(context, 'rootfs');
    // Node and the C libraries it links, at the paths the official image has them.
    await place(process.execPath, join(rootfs, 'usr/local/bin/node'));
    const { stdout } = await run('ldd', [process.execPath]);
    const libraries = [...stdout.matchAll(/(\/\S+\.so[\w.]*)/g)].map((match) => match[1]!);
    for (const library of libraries) await place(library, join(rootfs, library));
    // The rest of glibc, which the official image has whole: native modules of the build link them (vite's
    // rolldown, which bundles the dashboard, needs librt).
    const libc = libraries.find((library) => library.endsWith('/libc.so.6'));
    const glibc = ['librt.so.1', 'libdl.so.2', 'libpthread.so.0'].map((name) => libc && join(dirname(libc), name));
    for (const library of glibc) if (library) await place(library, join(rootfs, library)).catch(() => {});
    await place(await findBusybox(), join(rootfs, 'bin/busybox'));
    // npm, from the registry this machine reaches.
    const { stdout: packed } = await run('npm', ['pack', 'npm@11', '--silent', '--pack-destination', context], { cwd: context });
    await mkdir(join(rootfs, 'usr/local/lib/node_modules/npm'), { recursive: true });
    await run('tar', ['-xzf', join(context, packed.trim()), '-C', join(rootfs, 'usr/local/lib/node_modules/npm'), '--strip-components=1']);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootfs, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootfs, 'usr/local/bin/npx'));
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n');
    await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
    await copyFile('/etc/ssl/certs/ca-certificates.crt', join(rootfs, 'etc/ca-certificates.crt')).catch(() => {});
    await writeFile(
      join(context, 'Dockerfile'),
      [
        'FROM scratch',
        'COPY rootfs/ /',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'RUN mkdir -p /usr/bin /tmp /root /home/node && ln -s /bin/env /usr/bin/env && chmod 1777 /tmp && chown 1000:1000 /home/node',
        'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin NODE_VERSION=' + process.versions.node,
        `LABEL org.berth.stand-in="node:24-slim built locally by npm run image" org.berth.stand-in-revision="${standInRevision}"`,
        'CMD ["node"]',
        '',
      ].join('\n'),
    );
    await docker(['build', '--quiet', '-t', baseImage, context]);
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

async function place(source: string, target: string): Promise<void> {
  await mkdir(dirname(target), { recursive: true });
  await cp(source, target, { dereference: true });
}

/** Where the build stage finds extra CA certificates for the npm registry (git-ignored). */
export const buildCa = join(root, 'docker/build-ca/extra.pem');

/** Puts this machine's extra CA certificates (NODE_EXTRA_CA_CERTS) where the Dockerfile's build stage looks. */
export async function provideBuildCa(): Promise<void> {
  const caFile = process.env.NODE_EXTRA_CA_CERTS;
  if (caFile) await copyFile(caFile, buildCa).catch(() => {});
}

/** `docker build` of the repository's Dockerfile. */
export async function buildServiceImage(tag: string): Promise<void> {
  await provideBuildCa();
  await docker(['build', '-t', tag, root]);
}

function docker(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    // The legacy builder: the engine builds without BuildKit's frontend image, which would need a registry.
    const child = spawn('docker', args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`docker ${args[0]} exited with ${code}`))));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const base = await ensureBaseImage();
  process.stdout.write(`base image ${baseImage}: ${base}\n`);
  await buildServiceImage('berth:local');
  const info = await new Dockerode().getImage('berth:local').inspect();
  process.stdout.write(`built berth:local, ${(info.Size / 1e6).toFixed(0)} MB\n`);
}
