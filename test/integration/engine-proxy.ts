// A socket proxy in front of the test engine, as production would put one: it forwards only the
// endpoints of src/engine/engine-endpoints.ts and answers anything else 403, so a test that makes
// berth call an unlisted endpoint fails. It also records what berth called, for the report.
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { allowedEndpoint } from '../../src/engine/engine-endpoints.ts';

/** Marks a test's own probe of the proxy: neither recorded nor counted as berth's. */
export const probeHeader = 'x-berth-test-probe';

/** The proxy's own endpoint: the calls recorded so far, as JSON. */
export const callsPath = '/_berth-test/calls';

export interface EngineProxy {
  socketPath: string;
  /** `METHOD /documented/path` → number of calls. */
  calls: Map<string, number>;
  /** `METHOD /documented/path` → requests still open: streams such as /events and stats. */
  open: Map<string, number>;
  refused: string[];
  /** Ends the requests of `METHOD /documented/path` still open, as a broken connection would (a benchmark's cut of /events). */
  cut(key: string): void;
  close(): Promise<void>;
}

/** The engine's unix socket the proxy forwards to: DOCKER_HOST's when it names one, else the default. */
export function engineSocketPath(): string {
  return process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : '/var/run/docker.sock';
}

/**
 * `onCall`: told of each call forwarded (a benchmark's clock of berth's first engine call); what it answers, if
 * anything, is called once the call's answer has ended (a benchmark's time spent in the engine).
 */
export async function startEngineProxy(socketPath: string, engineSocket: string, onCall?: (key: string) => (() => void) | void): Promise<EngineProxy> {
  const calls = new Map<string, number>();
  const open = new Map<string, number>();
  const streams = new Map<string, Set<ServerResponse>>();
  const refused: string[] = [];
  await rm(socketPath, { force: true });
  const server: Server = createServer((incoming, outgoing) => {
    const method = incoming.method ?? 'GET';
    const path = incoming.url ?? '/';
    if (path === callsPath) {
      outgoing.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ calls: Object.fromEntries(calls), refused }));
      return;
    }
    const endpoint = allowedEndpoint(method, path);
    const probe = incoming.headers[probeHeader] !== undefined;
    if (!endpoint) {
      if (!probe) refused.push(`${method} ${path}`);
      outgoing.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `test socket proxy: ${method} ${path.split('?')[0]} is not in berth's engine endpoint allowlist` }));
      return;
    }
    const key = `${endpoint.method} ${endpoint.path}`;
    if (!probe) calls.set(key, (calls.get(key) ?? 0) + 1);
    const ended = onCall?.(key);
    open.set(key, (open.get(key) ?? 0) + 1);
    const keyStreams = streams.get(key) ?? streams.set(key, new Set()).get(key)!;
    keyStreams.add(outgoing);
    outgoing.once('close', () => {
      open.set(key, open.get(key)! - 1);
      keyStreams.delete(outgoing);
      ended?.();
    });
    const forwarded = request({ socketPath: engineSocket, method, path, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      // A stream such as /events sends its headers at once and its body much later: pass them on now.
      outgoing.flushHeaders();
      answer.pipe(outgoing);
    });
    forwarded.on('error', (error) => outgoing.destroy(error));
    outgoing.on('close', () => forwarded.destroy());
    incoming.pipe(forwarded);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  // The service image runs as an unprivileged user: let it connect, as the engine's group would.
  await chmod(socketPath, 0o666);
  await chmod(dirname(socketPath), 0o755);
  return {
    socketPath,
    calls,
    open,
    refused,
    cut: (key) => {
      for (const stream of streams.get(key) ?? []) stream.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
