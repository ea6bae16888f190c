// The parent's side of bench/proxy-process.ts: the allowlisting engine proxy in a process of its own.
import { spawn, type ChildProcess } from 'node:child_process';
import { floorCommand } from './floor-process.ts';
import type { ProxyReport, ProxyRequest } from './proxy-process.ts';

const now = () => performance.timeOrigin + performance.now();

/** The proxy process of proxy-process.ts, and its next report of a kind. */
export class ProxyChild {
  readonly socketPath: string;
  readonly #child: ChildProcess;

  private constructor(child: ChildProcess, socketPath: string) {
    this.#child = child;
    this.socketPath = socketPath;
  }

  static async start(command: [string, string[]], socketPath: string): Promise<ProxyChild> {
    const child = spawn(...floorCommand(command, 'proxy-process.ts', socketPath), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const proxy = new ProxyChild(child, socketPath);
    await proxy.next('listening');
    return proxy;
  }

  next<T extends ProxyReport['type']>(type: T): Promise<Extract<ProxyReport, { type: T }>> {
    return new Promise((resolve) => {
      const listener = (report: ProxyReport) => {
        if (report.type !== type) return;
        this.#child.off('message', listener);
        resolve(report as Extract<ProxyReport, { type: T }>);
      };
      this.#child.on('message', listener);
    });
  }

  send(request: ProxyRequest): void {
    this.#child.send(request);
  }

  /**
   * Runs `work` while the proxy times the engine calls it makes: how long the engine had one open, how many there
   * were, the milliseconds of `work` before the first call came and after the last answer ended.
   */
  async timing(work: () => Promise<void>): Promise<{ ms: number; calls: number; before: number; after: number }> {
    const timing = this.next('timing');
    this.send({ type: 'time' });
    await timing;
    const from = now();
    await work();
    const to = now();
    const timed = this.next('timed');
    this.send({ type: 'timed', from, to });
    const { ms, calls, first, last } = await timed;
    return { ms, calls, before: first - from, after: to - last };
  }

  stop(): void {
    this.#child.disconnect();
  }
}

