// The subscribers of bench/subscribers.ts as their driver sees them: a child process, commands, replies.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SubscribersCommand, SubscribersReport } from './subscribers.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

/** One process of graphql-ws subscribers (bench/subscribers.ts) of one berth, driven over IPC. */
export class Subscribers {
  readonly #child: ChildProcess;

  constructor() {
    this.#child = fork(join(root, 'bench/subscribers.ts'), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  send(command: SubscribersCommand): void {
    this.#child.send(command);
  }

  async reply<T extends SubscribersReport['type']>(type: T): Promise<Extract<SubscribersReport, { type: T }>> {
    const [report] = (await once(this.#child, 'message')) as [SubscribersReport];
    if (report.type === 'failed') throw new Error(`subscriber failed: ${report.message}`);
    if (report.type !== type) throw new Error(`expected ${type} from the subscribers, got ${report.type}`);
    return report as Extract<SubscribersReport, { type: T }>;
  }

  close(): void {
    if (this.#child.connected) this.send({ type: 'close' });
  }
}
