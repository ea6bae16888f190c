// berth as a child process of a benchmark, so that its RSS is its own: started as `npm start` runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

export interface BerthProcessOptions {
  configFile: string;
  port: number;
  /** More of berth's environment (DOCKER_HOST, limits…). */
  env?: Record<string, string>;
  /** Where berth's log goes; default inherited. */
  log?: 'inherit' | 'ignore';
  /** How long berth may take to become ready; default 20 s (1,000 modules take longer: an inspect each). */
  readyWithinMs?: number;
  /** How often /ready is asked until it answers; default 100 ms. */
  pollMs?: number;
}

/** Starts berth and resolves once /ready answers 200. */
export async function startBerth([program, args]: [string, string[]], { configFile, port, env = {}, log = 'inherit', readyWithinMs = 20_000, pollMs = 100 }: BerthProcessOptions): Promise<ChildProcess> {
  const child = spawn(program, args, {
    env: { ...process.env, BERTH_CONFIG: configFile, PORT: String(port), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', log, 'inherit'],
  });
  if (await untilReady(child, port, readyWithinMs, pollMs)) return child;
  child.kill('SIGKILL');
  throw new Error(`berth did not become ready on port ${port}`);
}

/** Asks berth's /ready every `pollMs` until it answers 200 (true), berth exits or `withinMs` pass (false). */
export async function untilReady(child: ChildProcess, port: number, withinMs: number, pollMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await fetch(`http://127.0.0.1:${port}/ready`).then((response) => response.ok, () => false)) return true;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  return false;
}

/** SIGTERM, and SIGKILL after 5 s. */
export async function stopBerth(berth: ChildProcess | undefined): Promise<void> {
  if (!berth || berth.exitCode !== null || berth.signalCode !== null) return;
  const exited = once(berth, 'exit');
  berth.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000)).then(() => berth.kill('SIGKILL'))]);
}

export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** A module's status, as berth on `port` answers it. */
export async function statusOf(port: number, module: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'query ($name: String!) { module(name: $name) { status } }', variables: { name: module } }),
  });
  return ((await response.json()) as { data?: { module: { status: string } } }).data?.module.status ?? 'unknown';
}
