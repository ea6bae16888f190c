import { readFileSync } from 'node:fs';
import type Dockerode from 'dockerode';
import type { EngineSpec } from '../config/module-spec.ts';
import { knownHostsFiles, knownHostVerifier } from './known-hosts.ts';
import { SshTunnelAgent } from './ssh-tunnel.ts';

/**
 * dockerode's connection options for an engine of docker.yaml, as the docker CLI reads the same address:
 * undefined for an engine without a host (`local`), which dockerode then takes from DOCKER_HOST,
 * DOCKER_TLS_VERIFY and DOCKER_CERT_PATH. An ssh:// engine signs in with the ssh agent and trusts only the
 * host key known_hosts lists for it, as the CLI's ssh does.
 */
export function connectionOptions({ host, tls }: EngineSpec, env: NodeJS.ProcessEnv = process.env): Dockerode.DockerOptions | undefined {
  if (host === undefined) return undefined;
  // dockerode lays these options over what it reads from DOCKER_HOST and DOCKER_CERT_PATH: every one that
  // could come from there is set, so that an engine of docker.yaml is reached as docker.yaml says.
  const own = { host: undefined, ca: undefined, cert: undefined, key: undefined };
  if (host.startsWith('unix://')) return { ...own, socketPath: host.slice('unix://'.length), protocol: 'http' };
  const url = new URL(host);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (url.protocol === 'ssh:') {
    const port = Number(url.port || 22);
    const tunnel = new SshTunnelAgent({
      host: hostname,
      port,
      username: decodeURIComponent(url.username) || undefined,
      agent: env.SSH_AUTH_SOCK,
      hostVerifier: knownHostVerifier(hostname, port, knownHostsFiles(env)),
    });
    // Plain HTTP through the tunnel, docker-modem's `agent` (its types leave it out): the address names the
    // engine only in the request line.
    const options = { ...own, protocol: 'http' as const, host: hostname, port, agent: tunnel };
    return options;
  }
  if (!tls) return { ...own, protocol: 'http', host: hostname, port: url.port };
  return { protocol: 'https', host: hostname, port: url.port, ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
}
