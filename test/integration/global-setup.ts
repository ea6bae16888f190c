import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import type { TestProject } from 'vitest/node';
import { buildBusyboxImages } from '../../scripts/busybox-images.ts';
import { buildService } from '../../scripts/service-command.ts';
import { engineSocketPath, startEngineProxy } from './engine-proxy.ts';

const fixtures = fileURLToPath(new URL('../fixtures/docker', import.meta.url));
const results = fileURLToPath(new URL('../../test-results', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    engineVersion: string;
    /** berth reaches the engine through this allowlisting proxy (engine-proxy.ts). */
    engineProxySocket: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const docker = new Dockerode();
  let version: string;
  try {
    version = (await docker.version()).Version;
  } catch (error) {
    throw new Error(
      `The integration tests need a Docker engine and none answers at ${process.env.DOCKER_HOST ?? 'the default socket'} (${(error as Error).message}). ` +
        'Run ./dev test, which installs and starts one when missing, or as root: apt-get install -y docker.io busybox-static && dockerd &',
      { cause: error },
    );
  }
  await Promise.all([buildBusyboxImages(fixtures, docker), buildService()]);
  project.provide('engineVersion', version);

  // In a folder of its own, so that a container (the service image's test) can mount just it.
  const proxyDir = await mkdtemp(join(tmpdir(), 'berth-engine-proxy-'));
  const proxy = await startEngineProxy(join(proxyDir, 'engine.sock'), engineSocketPath());
  project.provide('engineProxySocket', proxy.socketPath);
  return async () => {
    await proxy.close();
    await rm(proxyDir, { recursive: true, force: true });
    // The endpoints berth called in the whole suite, kept as a test artifact.
    await mkdir(results, { recursive: true });
    await writeFile(join(results, 'engine-endpoints.json'), `${JSON.stringify({ calls: Object.fromEntries(proxy.calls), refused: proxy.refused }, null, 2)}\n`);
    if (proxy.refused.length > 0) {
      throw new Error(`berth called engine endpoints missing from src/engine/engine-endpoints.ts:\n${[...new Set(proxy.refused)].join('\n')}`);
    }
  };
}
