import { fileURLToPath } from 'node:url';
import Dockerode from 'dockerode';
import type { TestProject } from 'vitest/node';
import { buildBusyboxImages } from '../../scripts/busybox-images.ts';
import { buildService } from '../../scripts/service-command.ts';

const fixtures = fileURLToPath(new URL('../fixtures/docker', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    engineVersion: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
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
}
