import { createServer } from 'node:net';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import Dockerode from 'dockerode';
import { inject } from 'vitest';
import { print } from 'graphql';
import { pino, type Logger } from 'pino';
import { createBerthApp, type BerthApp } from '../../src/graphql/app.ts';
import { writeFileSync } from 'node:fs';
import { ConfigReloader } from '../../src/config/config-reloader.ts';
import { parseConfig, textDigest } from '../../src/config/docker-yaml.ts';
import type { BerthConfig } from '../../src/config/module-spec.ts';
import type { BerthMetrics } from '../../src/metrics/berth-metrics.ts';
import type { Fleet } from '../../src/modules/fleet.ts';
import type { ModuleStore } from '../../src/modules/module-store.ts';
import { createServices, type BerthServices, type BerthServicesOptions } from '../../src/services.ts';

export { testImage } from '../fixtures/images.ts';
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
  modules: Fleet;
  store: ModuleStore;
  services: BerthServices;
  /** docker.yaml read again; it watches the file only when the harness was made `reloadable`. */
  reloader: ConfigReloader;
  /** A typed document generated from test/operations (npm run codegen), or an ad-hoc query. */
  gql<T, V>(document: TypedDocumentNode<T, V>, variables?: V): Promise<GraphQLResult<T>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- ad-hoc queries: bad input and one-off shapes
  gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>): Promise<GraphQLResult<T>>;
  /** Resolves once berth has listed the engine. */
  ready(): Promise<void>;
  cleanup(): Promise<void>;
}

export interface HarnessOptions {
  /** berth's environment, for `${VAR}` in the docker.yaml. */
  env?: Record<string, string>;
  /** The default engine; default the test engine, through the allowlisting socket proxy. */
  connection?: Dockerode.DockerOptions;
  /** The watcher's timing, over the harness's quick one (a 500 ms watchdog, reconnects within 500 ms). */
  watcher?: BerthServicesOptions['watcher'];
  /** The other engines docker.yaml names, by name, in place of their docker.yaml address. */
  connections?: Record<string, Dockerode.DockerOptions>;
  /** A client of the same engine, not through the proxy, that cleans up the project; default the test engine's. */
  engine?: Dockerode;
  /** Reuse another harness's run, and so its project and container names. */
  run?: string;
  /** berth's logger; default silent. */
  logger?: Logger;
  /** Where the docker.yaml is taken to be, for relative bind sources; default docker.yaml in the working folder. */
  file?: string;
  /** Write the docker.yaml to `file` (a test's own folder) and reload it when it changes, as berth does. */
  reloadable?: boolean;
  /** Where berth's services count what /metrics serves (the harness's own app serves none); default none. */
  metrics?: BerthMetrics;
}

/** berth on the test engine, for a docker.yaml written by the test; `{{run}}` in it becomes a unique suffix. */
export function createHarness(yaml: string, { env = {}, connection = { socketPath: inject('engineProxySocket') }, connections = {}, watcher, engine = docker, run = Math.random().toString(36).slice(2, 8), logger = pino({ level: 'silent' }), file = 'docker.yaml', reloadable = false, metrics }: HarnessOptions = {}): Harness {
  const project = `it-${run}`;
  const text = `project: ${project}\n${yaml.replaceAll('{{run}}', run)}`;
  const config = parseConfig(text, { file, env });
  const services = createServices({ config, logger, connections: { local: connection, ...connections }, watcher: { initialBackoffMs: 50, maxBackoffMs: 500, watchdogMs: 500, ...watcher }, metrics });
  const reloader = new ConfigReloader({ file, env, loaded: { config, digest: textDigest(text) }, apply: (next) => services.reconfigure(next), audit: services.audit, logger });
  if (reloadable) {
    writeFileSync(file, text);
    reloader.watch();
  }
  const app = createBerthApp({ modules: services.modules, config: reloader, engineReady: services.engineReady, logger, audit: services.audit });
  services.start();
  return {
    project,
    run,
    config,
    app,
    modules: services.modules,
    store: services.store,
    services,
    reloader,
    ready: () => waitFor(() => services.store.synced, 'the first sync'),
    async gql(operation: string | TypedDocumentNode, variables?: unknown) {
      const response = await app.fetch('http://berth/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: typeof operation === 'string' ? operation : print(operation), variables }),
      });
      return response.json();
    },
    async cleanup() {
      reloader.close();
      await services.stop();
      // An autostart under way would make a container after the removal below.
      await services.settled();
      await removeProject(project, engine);
    },
  };
}

/** Everything a project left on the engine: its containers, then its networks and volumes. */
export async function removeProject(project: string, engine = docker): Promise<void> {
  const containers = await engine.listContainers({ all: true, filters: { label: [`berth.project=${project}`] } });
  await Promise.all(containers.map((container) => engine.getContainer(container.Id).remove({ force: true })));
  await removeProjectResources(project, engine);
}

/**
 * berth never removes the networks and volumes it makes; a test does, once its containers are gone. Two
 * harnesses of one run (replicas) share them: the one that cleans up first may find them gone or in use.
 */
export async function removeProjectResources(project: string, engine = docker): Promise<void> {
  const filters = { label: [`berth.project=${project}`] };
  const [networks, { Volumes: volumes }] = await Promise.all([engine.listNetworks({ filters }), engine.listVolumes({ filters })]);
  const unlessShared = (error: { statusCode?: number }) => {
    if (![403, 404, 409].includes(error.statusCode ?? 0)) throw error;
  };
  await Promise.all([
    ...networks.map((network) => engine.getNetwork(network.Id).remove().catch(unlessShared)),
    ...(volumes ?? []).map((volume) => engine.getVolume(volume.Name).remove().catch(unlessShared)),
  ]);
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

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
