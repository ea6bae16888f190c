import { pino } from 'pino';
import { createBerthApp } from './app.ts';
import { ConfigError } from './config/config-error.ts';
import { loadConfig } from './config/docker-yaml.ts';
import { readSettings, SettingsError } from './config/settings.ts';
import { listen } from './server.ts';
import { createServices } from './services.ts';

const shutdownGraceMs = 10_000;

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  const logger = pino({ level: settings.logLevel });
  const config = await loadConfig(settings.configFile, process.env);
  logger.info({ config: settings.configFile, project: config.project, modules: config.modules.length }, 'configuration loaded');

  // dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself, as the docker CLI does.
  const services = createServices({ config, logger });
  const app = createBerthApp({ modules: services.modules, logger });
  const running = await listen(app, { ...settings, onError: (error) => logger.error({ err: error }, 'server error') });
  logger.info({ url: running.url }, 'berth is listening');
  services.start();

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.warn('open connections did not close in time; exiting');
      process.exit(0);
    }, shutdownGraceMs).unref();
    Promise.all([running.close(), services.stop()]).then(
      () => logger.info('stopped'),
      (error: Error) => logger.error({ err: error }, 'error while closing the server'),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof SettingsError) {
    process.stderr.write(`berth: invalid configuration\n${error.message}\n`);
  } else {
    process.stderr.write(`berth: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exitCode = 1;
});
