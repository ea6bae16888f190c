// The floors of benchmarks a, b and d as child processes: each run with berth's program and node
// flags, so that a ratio to berth measures berth's code, not different settings.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { FloorCommand, FloorReport } from './floor-ws.ts';
import { withOpenFileLimit } from './subscriber-process.ts';

/** `node <berth's node flags> bench/<file> <args>`, as berth's command runs dist/main.js. */
export function floorCommand([program, args]: [string, string[]], file: string, ...rest: string[]): [string, string[]] {
  const flags = args.filter((arg) => arg.startsWith('--'));
  return [program, [...flags, '--experimental-strip-types', '--disable-warning=ExperimentalWarning', fileURLToPath(new URL(file, import.meta.url)), ...rest]];
}

/** A floor that prints its port on its first line of stdout (bench/floor-http.ts, bench/load-floor.ts). */
export async function startPortFloor(command: [string, string[]]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(...command, { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, port: Number(line) };
}

/** The bare `ws` broadcaster of bench/floor-ws.ts, driven over IPC. */
export class WsFloor {
  readonly #child: ChildProcess;
  readonly port: number;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }

  static async start(berthCommand: [string, string[]]): Promise<WsFloor> {
    const child = spawn(...withOpenFileLimit(floorCommand(berthCommand, 'floor-ws.ts')), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const [report] = (await once(child, 'message')) as [FloorReport];
    if (report.type !== 'listening') throw new Error(`the ws floor answered ${report.type}`);
    return new WsFloor(child, report.port);
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** Keeps `frame` (or a run of frames) under `key`, encoded once: `initial` answers each subscribe. */
  async store(key: string, frame: string | string[]): Promise<void> {
    const stored = once(this.#child, 'message');
    this.#send({ type: 'frame', key, frame });
    await stored;
  }

  /** Has the floor broadcast a status at each `start` and `die` event of the container, read from the engine itself. */
  async follow(socketPath: string, containerId: string): Promise<void> {
    const following = once(this.#child, 'message');
    const exited = once(this.#child, 'exit').then(([code]) => Promise.reject(new Error(`the ws floor exited (${String(code)}) instead of following the engine's events`)));
    this.#send({ type: 'follow', socketPath, containerId });
    await Promise.race([following, exited]);
  }

  broadcast(key: string): void {
    this.#send({ type: 'broadcast', key });
  }

  close(): void {
    this.#child.kill();
  }

  #send(command: FloorCommand): void {
    this.#child.send(command);
  }
}
