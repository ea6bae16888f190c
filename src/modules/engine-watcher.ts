import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { DockerClient } from '../engine/docker-client.ts';
import type { ModuleStore } from './module-store.ts';

export interface EngineWatcherOptions {
  docker: DockerClient;
  store: ModuleStore;
  logger: Logger;
  /** Called after every resync, the first one and each after a reconnect. */
  onSynced?: () => void;
  /** First delay before reconnecting; doubles on each failure. Default 250 ms. */
  initialBackoffMs?: number;
  /** Longest delay between reconnects. Default 10 s. */
  maxBackoffMs?: number;
  /** How often the engine is pinged while its event stream is quiet; a failed ping reconnects. Default 5 s. */
  watchdogMs?: number;
}

/**
 * Follows the engine: subscribes to its events first, then lists everything (the engine replays
 * only a short window of past events), and does both again after every break, forever, with
 * capped exponential backoff.
 */
export class EngineWatcher {
  readonly #options: Required<Omit<EngineWatcherOptions, 'onSynced'>> & Pick<EngineWatcherOptions, 'onSynced'>;
  readonly #stopping = new AbortController();
  #running: Promise<void> | undefined;

  constructor(options: EngineWatcherOptions) {
    this.#options = { initialBackoffMs: 250, maxBackoffMs: 10_000, watchdogMs: 5_000, ...options };
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    const { store, logger } = this.#options;
    for (let failures = 0; !this.#stopping.signal.aborted; failures++) {
      const connected = await this.#follow();
      if (this.#stopping.signal.aborted) break;
      store.markUnreachable();
      if (connected) failures = 0;
      const delay = Math.min(this.#options.maxBackoffMs, this.#options.initialBackoffMs * 2 ** failures);
      logger.debug({ delayMs: delay, failures }, 'reconnecting to the engine');
      await sleep(delay * (0.8 + Math.random() * 0.4), undefined, { signal: this.#stopping.signal }).catch(() => {});
    }
  }

  /** One connection: true when it got as far as a resync. */
  async #follow(): Promise<boolean> {
    const { docker, store, logger, onSynced, watchdogMs } = this.#options;
    const connection = new AbortController();
    const stop = () => connection.abort();
    this.#stopping.signal.addEventListener('abort', stop, { once: true });
    let watchdog: NodeJS.Timeout | undefined;
    let synced = false;
    try {
      const events = await docker.events(connection.signal);
      const engine = await store.resync();
      synced = true;
      logger.info(engine, 'engine in sync');
      onSynced?.();
      let pinging = false;
      watchdog = setInterval(() => {
        if (pinging) return;
        pinging = true;
        docker
          .version()
          .catch((error: Error) => {
            logger.warn({ err: error }, 'engine stopped answering; reconnecting');
            connection.abort();
          })
          .finally(() => (pinging = false));
      }, watchdogMs);
      for await (const event of events) {
        store.apply(event).catch((error: Error) => logger.warn({ err: error, event }, 'could not apply an engine event'));
      }
      if (!connection.signal.aborted) logger.warn('engine event stream ended; reconnecting');
    } catch (error) {
      if (!connection.signal.aborted) logger.warn({ err: error }, 'engine unreachable');
    } finally {
      clearInterval(watchdog);
      connection.abort();
      this.#stopping.signal.removeEventListener('abort', stop);
    }
    return synced;
  }
}
