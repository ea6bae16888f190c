import type { Principal } from '../auth/tokens.ts';
import type { DockerModuleClient } from '../docker/docker-module-client.ts';

export interface BerthContext {
  modules: DockerModuleClient;
  /** Who asked; undefined only for a request that was refused before it ran. */
  principal: Principal | undefined;
}
