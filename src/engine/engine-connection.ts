import { readFileSync } from 'node:fs';
import type Dockerode from 'dockerode';
import type { EngineSpec } from '../config/module-spec.ts';

/**
 * dockerode's connection options for an engine of docker.yaml, as the docker CLI reads the same address:
 * undefined for an engine without a host (`local`), which dockerode then takes from DOCKER_HOST,
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. An ssh:// engine signs in with the ssh agent, as the CLI does.
 */
export function connectionOptions({ host, tls }: EngineSpec, env: NodeJS.ProcessEnv = process.env): Dockerode.DockerOptions | undefined {
  if (host === undefined) return undefined;
  // dockerode lays these options over DOCKER_HOST's: its host and protocol would win over a socket path.
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), host: undefined, protocol: 'http' };
  const url = new URL(host);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol === 'ssh:') {
    return {
      protocol: 'ssh',
      host: hostname,
      port: url.port || 22,
      username: decodeURIComponent(url.username) || undefined,
      sshOptions: { agent: env.SSH_AUTH_SOCK },
    };
  }
  if (!tls) return { protocol: 'http', host: hostname, port: url.port };
  return { protocol: 'https', host: hostname, port: url.port, ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
}
