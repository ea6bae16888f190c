// berth as `npm start` runs it, in a child process of a benchmark: its RSS and CPU are its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface BerthProcessOptions {
  /** The docker.yaml it runs. */
  configFile: string;
  port: number;
  /** More of its environment (DOCKER_HOST, say). */
  env?: Record<string, string>;
  /** Its log on stdout: shown, or left out (default shown). */
  stdout?: 'inherit' | 'ignore';
}

/** Starts berth with `command` ([program, args]) and resolves once /ready answers 200 (within 20 s). */
export async function startBerth([program, args]: [string, string[]], { configFile, port, env = {}, stdout = 'inherit' }: BerthProcessOptions): Promise<ChildProcess> {
  const child = spawn(program, args, { env: { ...process.env, BERTH_CONFIG: configFile, PORT: String(port), LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', stdout, 'inherit'] });
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline && child.exitCode === null) {
    if (await fetch(`http://127.0.0.1:${port}/ready`).then((response) => response.ok, () => false)) return child;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`berth did not become ready on port ${port}`);
}

/** SIGTERM, and SIGKILL after 5 s. */
export async function stopBerth(berth: ChildProcess | undefined): Promise<void> {
  if (!berth || berth.exitCode !== null || berth.signalCode !== null) return;
  const exited = once(berth, 'exit');
  berth.kill('SIGTERM');
  await Promise.race([exited, sleep(5_000).then(() => berth.kill('SIGKILL'))]);
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}
