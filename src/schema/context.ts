import type { DockerModuleClient } from '../docker/docker-module-client.ts';

export interface BerthContext {
  modules: DockerModuleClient;
}
