// First: dockerode must find its deferred transports' stand-ins when it loads (see the module).
import './engine/deferred-transports.ts';
import { pino } from 'pino';
import { createBerthApp } from './graphql/app.ts';
import { KeptResponses } from './graphql/plugins/kept-responses.ts';
import { noAuthentication, TokenFileAuthenticator } from './auth/authenticator.ts';
import { ConfigError } from './config/config-error.ts';
import { ConfigReloader } from './config/config-reloader.ts';
import { readConfig } from './config/docker-yaml.ts';
import { isLoopback, readSettings, SettingsError } from './config/settings.ts';
import { listen } from './http/listen.ts';
import { AuditFileError, AuditLog } from './lib/audit-log.ts';
import { BerthMetrics } from './metrics/berth-metrics.ts';
import { createServices } from './services.ts';

const shutdownGraceMs = 10_000;

async function main(): Promise<void> {
  const settings = readSettings(process.env);
  const logger = pino({ level: settings.logLevel });
  const audit = new AuditLog(logger, { file: settings.auditFile });
  const loaded = await readConfig(settings.configFile, process.env);
  const { config } = loaded;
  logger.info({ config: settings.configFile, project: config.project, modules: config.modules.length, digest: loaded.digest }, 'configuration loaded');

  const metrics = new BerthMetrics();
  // dockerode reads DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH itself, as the docker CLI does.
  const services = createServices({
    metrics,
    config,
    logger,
    watcher: { resyncMs: settings.resyncSeconds * 1000 },
    dependencyTimeoutMs: settings.dependencyTimeoutSeconds * 1000,
    updateTimeoutMs: settings.updateTimeoutSeconds * 1000,
    audit,
  });
  const reloader = new ConfigReloader({ file: settings.configFile, env: process.env, loaded, apply: (next) => services.reconfigure(next), audit, logger });
  const auth = settings.auth.mode === 'tokens' ? await TokenFileAuthenticator.open(settings.auth.file, logger, audit) : noAuthentication;
  if (settings.auth.mode === 'tokens') logger.info({ file: settings.auth.file }, 'authentication on: bearer tokens from the tokens file');
  else if (settings.auth.why === 'loopback') logger.info({ host: settings.host }, 'authentication off: berth listens on loopback only');
  else logger.warn({ host: settings.host }, 'authentication off (BERTH_AUTH=off): whoever reaches berth controls the Docker engine');
  // Without authentication on loopback, only requests addressed to localhost: no DNS rebinding.
  const loopbackHostOnly = settings.auth.mode === 'off' && isLoopback(settings.host);
  const kept = new KeptResponses({ version: () => services.modules.version, config: () => reloader.state });
  const app = createBerthApp({
    modules: services.modules,
    config: reloader,
    engineReady: services.engineReady,
    logger,
    auth,
    graphiql: settings.graphiql,
    introspection: settings.introspection,
    maxBodyBytes: settings.limits.bodyBytes,
    maxUploadBytes: settings.limits.uploadBytes,
    loopbackHostOnly,
    audit,
    metrics,
    kept,
  });
  const running = await listen(app, {
    host: settings.host,
    port: settings.port,
    auth,
    loopbackHostOnly,
    limits: settings.limits,
    audit,
    metrics: metrics.connections,
    kept,
    onError: (error) => logger.error({ err: error }, 'server error'),
  });
  logger.info({ url: running.url }, 'berth is listening');
  // Installed once berth listens (before, the signal's default would end the process), and before anything
  // else that could fail: a SIGHUP must never end a berth that serves, nor SIGTERM skip the graceful stop.
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading docker.yaml and reopening the audit file');
    audit.reopen();
    void reloader.reload('SIGHUP');
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.warn('open connections did not close in time; exiting');
      process.exit(0);
    }, shutdownGraceMs).unref();
    auth.close();
    reloader.close();
    Promise.all([running.close(), services.stop()]).then(
      () => {
        audit.close();
        logger.info('stopped');
      },
      (error: Error) => logger.error({ err: error }, 'error while closing the server'),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  services.start();
  reloader.watch();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof SettingsError || error instanceof AuditFileError) {
    process.stderr.write(`berth: invalid configuration\n${error.message}\n`);
  } else {
    process.stderr.write(`berth: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  }
  process.exitCode = 1;
});
