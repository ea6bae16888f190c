import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type Dockerode from 'dockerode';
import { inject } from 'vitest';
import { docker } from './harness.ts';

const run = promisify(execFile);

/** An engine the shared cases (lifecycle-cases.ts, live-status-cases.ts) run berth against. */
export interface TestEngine {
  /** berth's connection to it, through an allowlisting proxy (engine-proxy.ts). */
  connection: Dockerode.DockerOptions;
  /** A client of its API, not through the proxy: outside changes and cleaning up. */
  docker: Dockerode;
  /** The engine's own CLI (docker, podman), for outside changes as an operator makes them; answers its stdout. */
  cli(...args: string[]): Promise<string>;
}

/** The suite's Docker engine, as global-setup.ts provides it. */
export function dockerEngine(): TestEngine {
  return {
    connection: { socketPath: inject('engineProxySocket') },
    docker,
    cli: async (...args) => (await run('docker', args)).stdout,
  };
}
