import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import Dockerode from 'dockerode';
import { testImage } from '../fixtures/images.ts';
import { commandLine, copyImage, daemonLog, killAndWait, unmountUnder } from './second-engine.ts';

const run = promisify(execFile);

/**
 * Podman's Docker-compatible API (`podman system service`), owned by one test file. It shares nothing
 * with the machine's engines or another Podman: its own socket, storage (--root, --runroot), per-boot
 * and temporary folders, containers.conf (CNI network configs, event log and file locks among them).
 */
export interface PodmanEngine {
  /** The service's unix socket, for dockerode's `socketPath` or DOCKER_HOST=unix://…. */
  socketPath: string;
  /** A client of the service's Docker-compatible API. */
  docker: Dockerode;
  /** Podman's version, as its API reports it. */
  version: string;
  /** Podman's own CLI, talking to this service: `podman --remote --url unix://… <args>`; answers its stdout. */
  cli(...args: string[]): Promise<string>;
  /** The service's log, for failure messages. */
  log(): string;
  /** Stops the service and removes everything it left: containers, networks, processes, mounts, files. */
  dispose(): Promise<void>;
}

/**
 * What Podman 4.3 writes outside its folders whatever its flags say: its blob cache (/var/lib/containers/cache)
 * and the CNI dnsname plugin's dnsmasq state (/run/containers/cni): removed when this service made them.
 */
const sharedFolders = ['/var/lib/containers', '/run/containers'];

/** The bridge of Podman's default network, which outlives its last container and cannot be removed through the API. */
const defaultBridge = 'cni-podman0';

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );
const answerTimeoutMs = 60_000;
const exitTimeoutMs = 30_000;

/**
 * What makes Podman run here, and keeps it to its folder: no default ulimits (Podman's raise of
 * RLIMIT_NPROC fails in this machine's containers), cgroupfs (no systemd), the event log in a file.
 */
function containersConf(root: string): string {
  return `[containers]
default_ulimits = []

[network]
network_config_dir = "${root}/cni"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "${root}/events.log"
image_copy_tmp_dir = "${root}/tmp"
lock_type = "file"
`;
}

/** Starts `podman system service` in a fresh folder under /tmp and loads the images into it (they become `localhost/<name>`). */
export async function startPodmanEngine(images: readonly string[] = [testImage]): Promise<PodmanEngine> {
  // Short and under /tmp: unix socket paths (the service's, conmon's) are limited to 108 bytes.
  const root = await mkdtemp('/tmp/berth-pm-');
  const socketPath = join(root, 'podman.sock');
  const logFile = join(root, 'service.log');
  const configFile = join(root, 'containers.conf');
  for (const folder of ['storage', 'run', 'libpod', 'tmp', 'cni']) await mkdir(join(root, folder));
  await writeFile(configFile, containersConf(root));
  const globals = ['--root', join(root, 'storage'), '--runroot', join(root, 'run'), '--tmpdir', join(root, 'libpod')];
  const env = { ...process.env, CONTAINERS_CONF: configFile, TMPDIR: join(root, 'tmp') };
  const docker = new Dockerode({ socketPath });
  const { log, logTail } = daemonLog(logFile);
  const remote = ['podman', '--remote', '--url', `unix://${socketPath}`];
  const cli = async (...args: string[]) => (await run(remote[0]!, [...remote.slice(1), ...args], { env })).stdout;

  const leftShared = await Promise.all(sharedFolders.map(async (folder) => ((await exists(folder)) ? undefined : folder)));
  const hadDefaultBridge = await exists(`/sys/class/net/${defaultBridge}`);
  let service: ChildProcess | undefined;
  async function start(): Promise<void> {
    const output = openSync(logFile, 'a');
    try {
      service = spawn('podman', [...globals, 'system', 'service', '--time=0', `unix://${socketPath}`], { env, stdio: ['ignore', output, output] });
    } finally {
      closeSync(output);
    }
    const spawnFailure = once(service, 'error').then(([error]) => error as Error);
    const deadline = Date.now() + answerTimeoutMs;
    for (;;) {
      const failed = await Promise.race([spawnFailure, sleep(100).then(() => undefined)]);
      if (failed) throw new Error(`could not run podman (./dev test installs Debian's podman): ${failed.message}`, { cause: failed });
      if (service.exitCode !== null || service.signalCode !== null) {
        throw new Error(`podman system service exited (${service.exitCode ?? service.signalCode}) before answering:\n${logTail()}`);
      }
      try {
        await docker.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`podman did not answer on ${socketPath} within ${answerTimeoutMs} ms:\n${logTail()}`, { cause: error });
      }
    }
  }

  async function stopService(): Promise<void> {
    const current = service;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const exited = once(current, 'exit');
    current.kill('SIGTERM');
    const timer = new AbortController();
    const late = await Promise.race([exited.then(() => false), sleep(exitTimeoutMs, true, { signal: timer.signal }).catch(() => false)]);
    timer.abort();
    if (late) {
      current.kill('SIGKILL');
      await exited;
    }
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
    // Containers first (conmon, their processes, their port reservations), then the networks: a CNI
    // network's removal also deletes its bridge, which would otherwise stay on the host.
    await attempt(async () => {
      const containers = await docker.listContainers({ all: true });
      await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    });
    await attempt(async () => {
      const networks = await docker.listNetworks();
      // The default network (Podman's "podman", which its Docker API calls "bridge") cannot be removed.
      await Promise.all(networks.filter((network) => !['bridge', 'podman'].includes(network.Name)).map((network) => docker.getNetwork(network.Id).remove()));
    });
    await attempt(stopService);
    if (!hadDefaultBridge && (await exists(`/sys/class/net/${defaultBridge}`))) await attempt(async () => void (await run('ip', ['link', 'del', defaultBridge])));
    await attempt(() => killLeftovers(root));
    await attempt(() => unmountUnder(root));
    await attempt(() => rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }));
    for (const folder of leftShared) if (folder) await attempt(() => rm(folder, { recursive: true, force: true }));
    if (problems.length > 0) throw new AggregateError(problems, `could not clean up the Podman service in ${root}`);
  }

  try {
    await start();
    for (const image of images) await copyImage(image, [...remote, 'load', '--quiet']);
    const version = (await docker.version()).Version;
    return { socketPath, docker, version, cli, log, dispose };
  } catch (error) {
    await dispose().catch(() => {});
    throw error;
  }
}

/**
 * Processes started from the service's folder (conmon, `podman container cleanup`, which name it in
 * their command lines) and those in its containers' cgroups (what conmon ran), ended by pid.
 */
async function killLeftovers(root: string): Promise<void> {
  const pids = new Set<number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if ((await commandLine(Number(entry))).includes(`${root}/`)) pids.add(Number(entry));
  }
  const containers = await readdir(join(root, 'storage', 'overlay-containers')).catch(() => []);
  for (const id of containers.filter((name) => /^[0-9a-f]{64}$/.test(name))) {
    const procs = await readFile(`/sys/fs/cgroup/pids/libpod_parent/libpod-${id}/cgroup.procs`, 'utf8').catch(() => '');
    for (const pid of procs.split('\n').filter(Boolean)) pids.add(Number(pid));
  }
  await Promise.all([...pids].map((pid) => killAndWait(pid)));
}
