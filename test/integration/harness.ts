import { createServer } from 'node:net';
import Dockerode from 'dockerode';
import { pino } from 'pino';
import { createBerthApp, type BerthApp } from '../../src/app.ts';
import { parseConfig } from '../../src/config/docker-yaml.ts';
import type { BerthConfig } from '../../src/config/module-spec.ts';
import { DockerodeClient } from '../../src/docker/docker-client.ts';
import { DockerModuleClient } from '../../src/docker/docker-module-client.ts';

export const testImage = 'berth-test/http-env:1.0';
export const absentImage = 'berth-test/never-built:0.0';
export const docker = new Dockerode();

export interface GraphQLResult<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; path?: string[]; extensions?: { code?: string } }[];
}

export interface Harness {
  project: string;
  /** A suffix that makes this run's container names unique on the shared engine. */
  run: string;
  config: BerthConfig;
  app: BerthApp;
  modules: DockerModuleClient;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped until the tests use generated documents
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResult<T>>;
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  /** berth's environment, for `${VAR}` in the docker.yaml. */
  env?: Record<string, string>;
  /** The engine; default the test engine. */
  connection?: Dockerode.DockerOptions;
  /** Reuse another harness's run, and so its project and container names. */
  run?: string;
}

/** berth on the test engine, for a docker.yaml written by the test; `{{run}}` in it becomes a unique suffix. */
export function createHarness(yaml: string, { env = {}, connection, run = Math.random().toString(36).slice(2, 8) }: HarnessOptions = {}): Harness {
  const project = `it-${run}`;
  const text = `project: ${project}\n${yaml.replaceAll('{{run}}', run)}`;
  const config = parseConfig(text, { file: 'docker.yaml', env });
  const logger = pino({ level: 'silent' });
  const client = new DockerodeClient({ connection, logger });
  const modules = new DockerModuleClient({ docker: client, config, logger });
  const app = createBerthApp({ docker: client, modules, logger });
  return {
    project,
    run,
    config,
    app,
    modules,
    async gql(query, variables) {
      const response = await app.fetch('http://berth/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      return response.json();
    },
    cleanup: () => removeProjectContainers(project),
  };
}

export async function removeProjectContainers(project: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
  await Promise.all(containers.map((container) => docker.getContainer(container.Id).remove({ force: true })));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The container's served environment, through its published port on 127.0.0.1. */
export async function servedEnv(port: number): Promise<string> {
  let failure: unknown;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/env.txt`);
      if (response.ok) return await response.text();
      failure = new Error(`HTTP ${response.status}`);
    } catch (error) {
      failure = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing answered on 127.0.0.1:${port}`, { cause: failure });
}
