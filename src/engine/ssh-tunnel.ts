import { Agent } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Client as SshClient, ConnectConfig } from 'ssh2';
import { Client } from './deferred/ssh2.ts';

/**
 * HTTP to an engine over ssh://, as `docker -H ssh://…` reaches one: each HTTP connection is a channel
 * running `docker system dial-stdio` on the engine's host. One SSH connection carries every channel, made at
 * the first request and again after it drops; docker-modem's own ssh transport signs in anew for every
 * request, which takes longer than the watchdog's ping may. HTTP keep-alive reuses the channels, each of
 * which costs a round trip and a process on the engine's host.
 */
export class SshTunnelAgent extends Agent {
  readonly #config: ConnectConfig;
  #connection: Promise<SshClient> | undefined;

  constructor(config: ConnectConfig) {
    super({ keepAlive: true });
    this.#config = config;
  }

  // Node's Agent takes a socket from the callback when createConnection returns none.
  override createConnection(_options: unknown, callback: (error: Error | null, stream?: Duplex) => void): undefined {
    this.#connected().then(
      (client) =>
        client.exec('docker system dial-stdio', (error, channel) => {
          if (error) this.#drop(client);
          callback(error ?? null, channel && asSocket(channel));
        }),
      (error: Error) => callback(error),
    );
    return undefined;
  }

  #connected(): Promise<SshClient> {
    this.#connection ??= new Promise((resolve, reject) => {
      const client = new Client() as unknown as SshClient;
      client.once('ready', () => resolve(client));
      client.once('error', (error) => {
        this.#drop(client);
        reject(error);
      });
      client.once('close', () => this.#drop(client));
      client.connect(this.#config);
    });
    return this.#connection;
  }

  /** The next request connects again; channels still open end with the connection. */
  #drop(client: SshClient): void {
    this.#connection = undefined;
    client.end();
  }

  override destroy(): void {
    const connection = this.#connection;
    this.#connection = undefined;
    void connection?.then((client) => client.end(), () => {});
    super.destroy();
  }
}

/** What Node's HTTP client asks of a kept-alive socket beyond a stream, none of which an SSH channel has. */
function asSocket(channel: Duplex): Duplex {
  const socketish = channel as Duplex & Record<string, unknown>;
  for (const method of ['setKeepAlive', 'setNoDelay', 'setTimeout', 'ref', 'unref']) {
    if (typeof socketish[method] !== 'function') socketish[method] = () => channel;
  }
  return channel;
}
