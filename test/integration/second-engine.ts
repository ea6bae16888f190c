import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Dockerode from 'dockerode';
import type { EngineTls } from '../../src/config/module-spec.ts';
import { testImage } from '../fixtures/images.ts';
import { connectLink, makeCertificates, namespaceSetup, pickLink, removeLink } from './engine-tls.ts';

/**
 * A second Docker engine owned by one test file, for tests that stop, kill or restart an engine.
 * It never touches the main engine: its own socket, data root, exec root (and so its own managed
 * containerd), pidfile and config file, its own network namespace, no bridge and no iptables rules.
 */
export interface SecondEngine {
  /** unix socket of the engine, for dockerode's `socketPath` or `docker -H unix://…`. */
  socketPath: string;
  /** With `tls`: its TCP address, a client certificate it accepts, and one it refuses (signed by another CA). */
  tcp: { host: string; client: EngineTls; stranger: EngineTls } | undefined;
  /** The engine's --data-root, kept across restarts. */
  dataRoot: string;
  /** A client of this engine. */
  docker: Dockerode;
  /** SIGTERM, then waits until the daemon has exited (it stops its containers first). */
  stop(): Promise<void>;
  /** Starts the daemon again on the same directories and waits until it answers. */
  start(): Promise<void>;
  restart(): Promise<void>;
  /** SIGKILL to the daemon and its containerd: they die without stopping anything, containers keep running under their shims. */
  kill(): Promise<void>;
  /** The daemon's log, for failure messages. */
  log(): string;
  /** Stops the daemon, whatever state it is in, and removes everything it left. */
  dispose(): Promise<void>;
}

const answerTimeoutMs = 60_000;
const exitTimeoutMs = 60_000;

export interface SecondEngineOptions {
  /** Also listen on TCP with --tlsverify, at an address this machine reaches over a veth pair (with the default launch). */
  tls?: boolean;
  /** Its folder's name under /tmp, before mkdtemp's random part; default `berth-e2-`. */
  prefix?: string;
  /** What runs dockerd in a network namespace of its own; default `unshare --net` (a fresh one). */
  launch?: readonly string[];
  /** Flags beyond its own folders; default no bridge and no iptables rules: it publishes no ports. */
  daemonArgs?: readonly string[];
  /** Images copied in from the main engine; default the test image. */
  images?: readonly string[];
}

/** Starts a second dockerd in a fresh directory under /tmp and loads the test image into it. */
export async function startSecondEngine({
  prefix = 'berth-e2-',
  // In a network namespace of its own: a dockerd run with --bridge=none deletes the host's docker0
  // bridge on start, which would cut the main engine's containers off their published ports.
  launch = ['unshare', '--net'],
  daemonArgs = ['--bridge=none', '--iptables=false', '--ip-masq=false'],
  images = [testImage],
  tls = false,
}: SecondEngineOptions = {}): Promise<SecondEngine> {
  // Short and under /tmp: unix socket paths (the engine's, its containerd's) are limited to 108 bytes.
  const root = await mkdtemp(join('/tmp', prefix));
  const socketPath = join(root, 'docker.sock');
  const dataRoot = join(root, 'data');
  const execRoot = join(root, 'exec');
  const logFile = join(root, 'dockerd.log');
  const configFile = join(root, 'daemon.json');
  const pidFile = join(root, 'docker.pid');
  await mkdir(dataRoot);
  await mkdir(execRoot);
  // Its own (empty) config file, so that a /etc/docker/daemon.json meant for the main engine never applies.
  await writeFile(configFile, '{}\n');
  const args = [
    `--host=unix://${socketPath}`,
    `--data-root=${dataRoot}`,
    `--exec-root=${execRoot}`,
    `--pidfile=${pidFile}`,
    `--config-file=${configFile}`,
    ...daemonArgs,
  ];
  const link = tls ? pickLink() : undefined;
  const certificates = link && (await makeCertificates(join(root, 'tls'), link.engineAddress));
  if (link && certificates) {
    const { ca, cert, key } = certificates.server;
    args.push(`--host=tcp://${link.engineAddress}:2376`, '--tlsverify', `--tlscacert=${ca}`, `--tlscert=${cert}`, `--tlskey=${key}`);
  }
  const docker = new Dockerode({ socketPath });

  let daemon: { process: ChildProcess; exited: Promise<void> } | undefined;
  /** Set by kill(): the engine's containers may still run under their shims. */
  let killed = false;

  const { log, logTail } = daemonLog(logFile);

  async function start(): Promise<void> {
    if (daemon) return;
    // A daemon that was killed leaves its pidfile, and dockerd refuses to start over one; none of ours runs now.
    await rm(pidFile, { force: true });
    const output = openSync(logFile, 'a');
    let child: ChildProcess;
    try {
      // Its loopback up, so that its containers can publish ports on 127.0.0.1 in its namespace.
      const [command = 'sh', ...wrapperArgs] = [...launch, 'sh', '-c', `${namespaceSetup(link)} && exec dockerd "$@"`, 'dockerd'];
      child = spawn(command, [...wrapperArgs, ...args], { stdio: ['ignore', output, output] });
    } finally {
      closeSync(output);
    }
    const exited = once(child, 'exit').then(
      () => {},
      () => {},
    );
    const current = { process: child, exited };
    daemon = current;
    void exited.then(() => {
      if (daemon === current) daemon = undefined;
    });
    const spawnFailure = once(child, 'error').then(([error]) => error as Error);
    if (link) await connectLink(link, child.pid!);
    const deadline = Date.now() + answerTimeoutMs;
    for (;;) {
      const failed = await Promise.race([spawnFailure, sleep(100).then(() => undefined)]);
      if (failed) throw new Error(`could not run dockerd: ${failed.message}`, { cause: failed });
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the second dockerd exited (${child.exitCode ?? child.signalCode}) before answering:\n${logTail()}`);
      }
      try {
        await docker.ping();
        killed = false;
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`the second dockerd did not answer on ${socketPath} within ${answerTimeoutMs} ms:\n${logTail()}`, { cause: error });
        }
      }
    }
  }

  async function signal(name: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const current = daemon;
    if (!current) return;
    current.process.kill(name);
    const timer = new AbortController();
    const timedOut = sleep(exitTimeoutMs, true, { signal: timer.signal }).catch(() => false);
    const late = await Promise.race([current.exited.then(() => false), timedOut]);
    timer.abort();
    if (late) {
      throw new Error(`the second dockerd (pid ${current.process.pid}) did not exit within ${exitTimeoutMs} ms of ${name}:\n${logTail()}`);
    }
  }

  async function stop(): Promise<void> {
    await signal('SIGTERM');
  }

  async function kill(): Promise<void> {
    if (!daemon) return;
    killed = true;
    const containerdPidFile = join(execRoot, 'containerd', 'containerd.pid');
    const containerd = await readPid(containerdPidFile);
    await signal('SIGKILL');
    // Its containerd outlives it until it next writes a log line to the dead daemon, and a new dockerd that
    // finds it still running waits for it in vain ("timeout waiting for containerd to start"): end it too.
    if (containerd !== undefined && (await commandLine(containerd)).includes(`${root}/`)) await killAndWait(containerd);
    // Dead, it may stay a zombie for a while (whether and when pid 1 reaps orphans is up to the machine), and
    // dockerd takes a zombie for a running containerd: forget its pid so that the next start runs a new one.
    await rm(containerdPidFile, { force: true });
  }

  async function dispose(): Promise<void> {
    const problems: unknown[] = [];
    const attempt = async (work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        problems.push(error);
      }
    };
    // After a SIGKILL its containers may still run: a start stops them (no live-restore), a clean stop then ends all.
    if (killed) await attempt(start);
    await attempt(stop);
    await attempt(() => signal('SIGKILL'));
    await attempt(() => killLeftovers(root, dataRoot));
    await attempt(() => unmountUnder(root));
    if (link) await attempt(() => removeLink(link));
    await attempt(() => rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
    if (problems.length > 0) throw new AggregateError(problems, `could not clean up the second engine in ${root}`);
  }

  const engine: SecondEngine = {
    socketPath,
    tcp: link && certificates && { host: `tcp://${link.engineAddress}:2376`, client: certificates.client, stranger: certificates.stranger },
    dataRoot,
    docker,
    stop,
    start,
    restart: async () => {
      await stop();
      await start();
    },
    kill,
    log,
    dispose,
  };
  try {
    await start();
    for (const image of images) await copyImage(image, ['docker', '-H', `unix://${socketPath}`, 'load', '--quiet']);
  } catch (error) {
    await dispose().catch(() => {});
    throw error;
  }
  return engine;
}

/** A daemon's log file, whole, and its last 30 lines for failure messages; empty before the daemon wrote one. */
export function daemonLog(logFile: string): { log: () => string; logTail: () => string } {
  const log = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  return { log, logTail: () => log().split('\n').slice(-30).join('\n') };
}

/** `docker save <image> | <load command>`, from the main engine to another (`docker -H … load`, `podman … load`). */
export async function copyImage(image: string, [command, ...args]: readonly string[]): Promise<void> {
  const save = spawn('docker', ['save', image], { stdio: ['ignore', 'pipe', 'pipe'] });
  const load = spawn(command!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  save.stdout.pipe(load.stdin);
  const errors = { save: '', load: '' };
  save.stderr.on('data', (chunk: Buffer) => (errors.save += chunk));
  load.stderr.on('data', (chunk: Buffer) => (errors.load += chunk));
  load.stdout.resume();
  const [[saved], [loaded]] = await Promise.all([once(save, 'close'), once(load, 'close')]);
  if (saved !== 0 || loaded !== 0) {
    throw new Error(`could not copy ${image} to another engine (${command}): docker save exited ${saved} (${errors.save.trim()}), docker load exited ${loaded} (${errors.load.trim()})`);
  }
}

/**
 * Processes still running from the engine's directories (its containerd, container shims) and in its
 * containers' cgroups (what a shim ran): all of them started by this engine, ended by pid.
 */
export async function killLeftovers(root: string, dataRoot: string): Promise<void> {
  const pids = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if ((await commandLine(Number(entry))).includes(`${root}/`)) pids.add(Number(entry));
  }
  const containers = await readdir(join(dataRoot, 'containers')).catch(() => []);
  for (const id of containers) {
    const procs = await readFile(`/sys/fs/cgroup/pids/docker/${id}/cgroup.procs`, 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) pids.add(Number(pid));
  }
  await Promise.all([...pids].map((pid) => killAndWait(pid)));
}

async function readPid(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined;
}

export async function commandLine(pid: number): Promise<string> {
  return readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
}

/** SIGKILL, then waits (up to 10 s) until the process is gone or a zombie. */
export async function killAndWait(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  for (let waited = 0; waited < 10_000; waited += 20) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
    // The state follows the parenthesised command name: Z is a zombie, dead but not yet reaped.
    if (stat === undefined || stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return;
    await sleep(20);
  }
  throw new Error(`process ${pid} did not exit within 10 s of SIGKILL`);
}

/** Unmounts whatever is still mounted under the engine's directories, deepest first. */
export async function unmountUnder(root: string): Promise<void> {
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  const points = mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((point): point is string => point !== undefined && point.startsWith(`${root}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    const umount = spawn('umount', ['-l', point], { stdio: 'ignore' });
    await once(umount, 'close');
  }
}
