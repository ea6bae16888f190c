// berth as the soak runs it: the built service in a child process of its own, so that its RSS and open
// file descriptors are its own, killed with SIGKILL and started again on the same port and configuration.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { open, readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ModuleStatus } from './soak-modules.ts';

export interface BerthOptions {
  /** `npm start`'s command: serviceCommand() of scripts/service-command.ts. */
  command: [string, string[]];
  configFile: string;
  port: number;
  /** unix socket of the engine berth drives. */
  engineSocket: string;
  /** berth's stdout and stderr are appended here. */
  logFile: string;
}

export interface ResourceSample {
  rssMb: number;
  fds: number;
}

const readyTimeoutMs = 60_000;

export class BerthProcess {
  private child: ChildProcess | undefined;
  private readonly options: BerthOptions;
  readonly graphqlUrl: string;

  constructor(options: BerthOptions) {
    this.options = options;
    this.graphqlUrl = `http://127.0.0.1:${options.port}/graphql`;
  }

  get pid(): number {
    return this.child!.pid!;
  }

  /** Starts berth and waits until /ready answers: the engine is reachable and listed. */
  async start(): Promise<void> {
    const { command, configFile, port, engineSocket, logFile } = this.options;
    const log = await open(logFile, 'a');
    try {
      const env = { ...process.env, BERTH_CONFIG: configFile, PORT: String(port), LOG_LEVEL: 'warn' };
      const stdio: StdioOptions = ['ignore', log.fd, log.fd];
      this.child = spawn(command[0], command[1], { env: { ...env, DOCKER_HOST: `unix://${engineSocket}` }, stdio });
    } finally {
      await log.close();
    }
    await this.waitUntilReady();
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async isReady(): Promise<boolean> {
    const response = await fetch(`http://127.0.0.1:${this.options.port}/ready`).catch(() => undefined);
    return response?.ok ?? false;
  }

  /** The `modules` query's answer, or undefined while berth cannot answer it. */
  async moduleStatuses(): Promise<Map<string, ModuleStatus> | undefined> {
    const response = await fetch(this.graphqlUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ modules { name status } }' }),
    }).catch(() => undefined);
    const body = (await response?.json().catch(() => undefined)) as
      | { data?: { modules: { name: string; status: ModuleStatus }[] } | null }
      | undefined;
    const modules = body?.data?.modules;
    return modules && new Map(modules.map(({ name, status }) => [name, status]));
  }

  async sample(): Promise<ResourceSample> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
    const fds = (await readdir(`/proc/${this.pid}/fd`)).length;
    return { rssMb: rssKb / 1024, fds };
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    const seeLog = `see ${this.options.logFile}`;
    while (!(await this.isReady())) {
      const child = this.child!;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`berth exited (${child.exitCode ?? child.signalCode}) before it was ready: ${seeLog}`);
      }
      if (Date.now() > deadline) throw new Error(`berth was not ready within ${readyTimeoutMs} ms: ${seeLog}`);
      await sleep(100);
    }
  }
}
