import type Dockerode from 'dockerode';
import type { Logger } from 'pino';
import type { BerthConfig } from './config/module-spec.ts';
import { DockerodeClient } from './engine/docker-client.ts';
import { redactor } from './engine/engine-error.ts';
import { DockerModuleClient } from './modules/docker-module-client.ts';
import { EngineWatcher, type EngineWatcherOptions } from './modules/engine-watcher.ts';
import { ModuleStore } from './modules/module-store.ts';

export interface BerthServicesOptions {
  config: BerthConfig;
  logger: Logger;
  /** dockerode connection options; default: from DOCKER_HOST and friends, as the docker CLI reads them. */
  connection?: Dockerode.DockerOptions;
  watcher?: Pick<EngineWatcherOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'watchdogMs'>;
}

export type BerthServices = ReturnType<typeof createServices>;

/** berth's services, built once at start-up and handed to the app; `start` begins following the engine. */
export function createServices({ config, logger, connection, watcher: watcherOptions }: BerthServicesOptions) {
  const docker = new DockerodeClient({ connection, redact: redactor(config.secrets), logger: logger.child({ component: 'docker' }) });
  const store = new ModuleStore({ docker, config, logger: logger.child({ component: 'store' }) });
  const modules = new DockerModuleClient({ docker, store, project: config.project, logger: logger.child({ component: 'modules' }) });
  const watcher = new EngineWatcher({
    docker,
    store,
    logger: logger.child({ component: 'watcher' }),
    onSynced: () => modules.reconcile(),
    ...watcherOptions,
  });
  let stopAutostart: (() => void) | undefined;
  return {
    docker,
    store,
    modules,
    start() {
      stopAutostart ??= modules.autostartOnChanges();
      watcher.start();
    },
    async stop() {
      stopAutostart?.();
      await watcher.stop();
    },
  };
}
