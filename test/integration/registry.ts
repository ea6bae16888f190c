// A real registry on 127.0.0.1 for pull tests and the pull benchmark: Debian's docker-registry (2.8),
// with a config of its own, storage in a temporary folder and, when asked, htpasswd sign-in. The engine
// treats 127.0.0.0/8 as an insecure registry, so plain HTTP pushes and pulls work.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { findBusybox } from '../../scripts/busybox-images.ts';

export interface RegistryOptions {
  /** Sign-in that the registry requires (htpasswd); default none. */
  auth?: { username: string; password: string };
  /**
   * The registry reached through a proxy that sends its answers at this rate, so that a pull lasts long
   * enough to be watched (a browser's progress bar); default full speed.
   */
  bytesPerSecond?: number;
}

export interface Registry {
  /** host:port, as image references name it: 127.0.0.1:<port>. */
  host: string;
  /**
   * Builds an image of several MB in several layers (a static busybox, then layers of random bytes) as
   * `<host>/<repository>:<tag>`, pushes it, and removes it from the engine with its layers, so that a
   * pull downloads them again. Answers the reference.
   */
  pushLayeredImage(repository: string, tag?: string): Promise<string>;
  /** Hides the big layer blobs from the registry, so that a pull fails in the middle of its stream; answers the undo. */
  hideLayers(): Promise<() => Promise<void>>;
  stop(): Promise<void>;
}

const run = promisify(execFile);
const answerTimeoutMs = 20_000;
/** Layers of random bytes in the pushed image, and the size of each. */
export const randomLayers = 3;
export const randomLayerBytes = 4_000_000;

/** Starts a registry on a free port of 127.0.0.1; stop() ends it and removes its storage. */
export async function startRegistry({ auth, bytesPerSecond }: RegistryOptions = {}, docker = new Dockerode()): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const port = await freePort();
  const served = `127.0.0.1:${port}`;
  if (auth) await writeFile(join(dir, 'htpasswd'), await htpasswd(auth.username, auth.password));
  await writeFile(join(dir, 'config.yml'), registryConfig(dir, served, auth !== undefined));
  const registry = await serve(join(dir, 'config.yml'), served);
  const throttle = bytesPerSecond ? await throttled(port, bytesPerSecond) : undefined;
  const host = throttle?.host ?? served;
  const authconfig = auth && { username: auth.username, password: auth.password, serveraddress: host };
  return {
    host,
    pushLayeredImage: (repository, tag = '1') => pushLayeredImage(docker, `${host}/${repository}:${tag}`, authconfig),
    hideLayers: () => hideLayers(join(dir, 'storage')),
    async stop() {
      throttle?.close();
      if (registry.exitCode === null && registry.signalCode === null) {
        const exited = once(registry, 'exit');
        registry.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A TCP proxy on a free port of 127.0.0.1 to the registry's port, its answers paced at `bytesPerSecond`. */
async function throttled(port: number, bytesPerSecond: number): Promise<{ host: string; close(): void }> {
  const sockets = new Set<Socket>();
  const proxy = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause();
      client.write(chunk);
      setTimeout(() => upstream.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    upstream.once('end', () => client.end());
  });
  const proxyPort = await freePort();
  await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${proxyPort}`,
    close() {
      proxy.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Removes a pulled image with its layers, so that the next pull downloads them again; gone already is fine. */
export async function removeImage(reference: string, docker = new Dockerode()): Promise<void> {
  await docker
    .getImage(reference)
    .remove({ force: true })
    .catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error;
    });
}

function registryConfig(dir: string, host: string, withAuth: boolean): string {
  const auth = withAuth ? `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n` : '';
  return `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${host}\n${auth}`;
}

async function htpasswd(username: string, password: string): Promise<string> {
  try {
    return (await run('htpasswd', ['-Bbn', username, password])).stdout;
  } catch (error) {
    throw new Error(`htpasswd failed: install Debian's apache2-utils (./dev test does) (${(error as Error).message})`, { cause: error });
  }
}

/** The registry's process, once it answers on /v2/ (200 open, 401 with sign-in). */
async function serve(config: string, host: string): Promise<ChildProcess> {
  const registry = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  registry.stderr!.on('data', (chunk: Buffer) => (output = `${output}${String(chunk)}`.slice(-4000)));
  const failed = new Promise<never>((_, reject) => {
    registry.once('error', (error) => reject(new Error(`cannot run docker-registry: install Debian's docker-registry (./dev test does) (${error.message})`)));
    registry.once('exit', (code) => reject(new Error(`docker-registry exited with code ${code}: ${output}`)));
  });
  failed.catch(() => {});
  const deadline = Date.now() + answerTimeoutMs;
  while (Date.now() < deadline) {
    const status = await Promise.race([fetch(`http://${host}/v2/`).then((response) => response.status, () => 0), failed]);
    if (status === 200 || status === 401) return registry;
    await sleep(50);
  }
  registry.kill('SIGKILL');
  throw new Error(`docker-registry did not answer on ${host} within ${answerTimeoutMs} ms: ${output}`);
}

async function pushLayeredImage(docker: Dockerode, reference: string, authconfig: Dockerode.AuthConfig | undefined): Promise<string> {
  const context = await mkdtemp(join(tmpdir(), 'berth-layers-'));
  try {
    const randomSteps = Array.from({ length: randomLayers }, (_, index) => `RUN head -c ${randomLayerBytes} /dev/urandom > /blob${index}`);
    // SEED makes every build's random layers new: no build cache, no layer another test left on the engine.
    const dockerfile = ['FROM scratch', 'COPY busybox /bin/busybox', 'RUN ["/bin/busybox", "--install", "-s", "/bin"]', 'ARG SEED', 'RUN echo "$SEED" > /seed', ...randomSteps, 'CMD ["sleep", "3600"]'];
    await writeFile(join(context, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
    await copyFile(await findBusybox(), join(context, 'busybox'));
    const seed = `${Date.now()}-${Math.random()}`;
    await follow(docker, await docker.buildImage({ context, src: ['Dockerfile', 'busybox'] }, { t: reference, buildargs: { SEED: seed }, rm: true, forcerm: true }), `build ${reference}`);
    const [name, tag] = [reference.slice(0, reference.lastIndexOf(':')), reference.slice(reference.lastIndexOf(':') + 1)];
    await follow(docker, await docker.getImage(name).push({ tag, authconfig }), `push ${reference}`);
    await docker.getImage(reference).remove();
    return reference;
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

async function follow(docker: Dockerode, stream: NodeJS.ReadableStream, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: { error?: string }[]) => {
      const failed = error?.message ?? output.find((line) => line.error)?.error;
      if (failed) reject(new Error(`${what} failed: ${failed}`));
      else resolve();
    });
  });
}

/** Moves every blob of more than 1 MB out of the registry's storage: the random layers, not the manifest. */
async function hideLayers(storage: string): Promise<() => Promise<void>> {
  const blobs = join(storage, 'docker/registry/v2/blobs');
  const files = (await readdir(blobs, { recursive: true })).map((file) => join(blobs, file)).filter((file) => file.endsWith('/data'));
  const big: string[] = [];
  for (const file of files) if ((await stat(file)).size > 1_000_000) big.push(file);
  await Promise.all(big.map((file) => rename(file, `${file}.hidden`)));
  return async () => {
    await Promise.all(big.map((file) => rename(`${file}.hidden`, file)));
  };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
