import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ContainerDetails } from '../../src/engine/engine-types.ts';
import { LogDemultiplexer } from '../../src/engine/log-stream.ts';
import type { FollowedLogLine } from '../../src/modules/log-follower.ts';
import { ModuleLogs } from '../../src/modules/module-logs.ts';
import { DockerModuleClient } from '../../src/modules/docker-module-client.ts';
import { ModuleReader } from '../../src/modules/module-reader.ts';
import { ModuleStore } from '../../src/modules/module-store.ts';
import { berthConfig, containerEvent, FakeEngine, moduleSpec, project, sync, until } from './fake-engine.ts';

const alpha = moduleSpec('alpha');
const beta = moduleSpec('beta');
const logger = pino({ level: 'silent' });

describe('module logs against a fake engine', () => {
  let docker: FakeEngine;
  let store: ModuleStore;
  let modules: DockerModuleClient;
  let container: ContainerDetails;

  beforeEach(async () => {
    docker = new FakeEngine();
    docker.addImage(alpha.image);
    docker.addImage(beta.image);
    container = docker.addContainer(alpha, 'running');
    store = new ModuleStore({ config: berthConfig(alpha, beta), logger });
    modules = new DockerModuleClient({ docker, store, reader: new ModuleReader({ docker, store, project }), project, logger });
    await sync(store, docker);
  });

  /** What the engine does and tells: the container changes, then its event reaches the store. */
  const event = (of: ContainerDetails, action: string) => store.observe({ type: 'event', event: containerEvent(of, action) });
  const stop = (of: ContainerDetails) => {
    docker.setState(of.id, 'exited');
    event(of, 'die');
  };
  const start = (of: ContainerDetails) => {
    docker.setState(of.id, 'running');
    event(of, 'start');
  };
  const remove = async (of: ContainerDetails) => {
    await docker.containers.remove(of.id);
    event(of, 'destroy');
  };
  const print = (count: number, from = 0, stream: 'stdout' | 'stderr' = 'stdout') =>
    docker.print(container.id, Array.from({ length: count }, (_, index) => `line ${from + index}`), stream);

  /** The next `count` lines the feed delivers, as texts. */
  async function next(feed: AsyncIterator<FollowedLogLine>, count: number): Promise<string[]> {
    const texts: string[] = [];
    while (texts.length < count) {
      const result = await feed.next();
      if (result.done) throw new Error(`the feed ended after ${JSON.stringify(texts)}`);
      texts.push(result.value.text);
    }
    return texts;
  }
  const follows = () => docker.calls.filter((call) => call.startsWith('logs.follow'));

  describe('Module.logs', () => {
    it('answers the last lines, with their streams, oldest first', async () => {
      print(3);
      print(1, 3, 'stderr');
      const lines = await modules.logs('alpha', { tail: 2 });
      expect(lines.map((line) => [line.stream, line.text])).toEqual([
        ['stdout', 'line 2'],
        ['stderr', 'line 3'],
      ]);
    });

    it('answers the lines from a moment on', async () => {
      const [, second] = print(3);
      expect((await modules.logs('alpha', { tail: 100, since: second!.at })).map((line) => line.text)).toEqual(['line 1', 'line 2']);
    });

    it('answers none for a module without a container, and for a tail of 0', async () => {
      print(3);
      expect(await modules.logs('beta', { tail: 100 })).toEqual([]);
      expect(await modules.logs('alpha', { tail: 0 })).toEqual([]);
    });

    it('says on the first line how many older lines the read left out to keep the answer small', async () => {
      const [, second, third] = print(3);
      docker.logs.read = () => Promise.resolve({ lines: [{ ...second! }, { ...third! }], leftOut: 1 });
      expect((await modules.logs('alpha', { tail: 3 })).map((line) => [line.text, line.dropped])).toEqual([
        ['line 1', 1],
        ['line 2', undefined],
      ]);
    });

    it('refuses a tail outside 0 to 10,000 as BAD_USER_INPUT, and an unknown module as MODULE_NOT_FOUND', async () => {
      for (const tail of [-1, 10_001, 1.5]) await expect(modules.logs('alpha', { tail })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      await expect(modules.followLogs('alpha', { tail: -1 })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' });
      await expect(modules.logs('gamma', { tail: 1 })).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND' });
      await expect(modules.followLogs('gamma', { tail: 1 })).rejects.toMatchObject({ code: 'MODULE_NOT_FOUND' });
    });
  });

  describe('moduleLogs', () => {
    it('delivers the tail, then each new line as it comes', async () => {
      print(5);
      const feed = await modules.followLogs('alpha', { tail: 2 });
      expect(await next(feed, 2)).toEqual(['line 3', 'line 4']);
      print(2, 5);
      expect(await next(feed, 2)).toEqual(['line 5', 'line 6']);
      await feed.return!();
    });

    it('goes on with the next run after a restart, from the latest line read, without repeating one', async () => {
      print(3);
      const feed = await modules.followLogs('alpha', { tail: 100 });
      expect(await next(feed, 3)).toEqual(['line 0', 'line 1', 'line 2']);
      stop(container);
      // Two more lines at the very moment of the latest one read: the engine sends them again from that moment.
      const latest = docker.logsHeld.get(container.id)!.at(-1)!.time;
      docker.print(container.id, ['same moment a', 'same moment b'], 'stdout', { time: latest });
      start(container);
      await until(() => follows().length === 2, 'the log opened again');
      print(2, 3);
      expect(await next(feed, 4)).toEqual(['same moment a', 'same moment b', 'line 3', 'line 4']);
      expect(follows()[1]).toBe(`logs.follow ${container.id} tail=all since=${latest}`);
      await feed.return!();
    });

    it('opens the log again when its stream breaks while the container runs, repeating nothing', async () => {
      print(2);
      const feed = await modules.followLogs('alpha', { tail: 100 });
      expect(await next(feed, 2)).toEqual(['line 0', 'line 1']);
      docker.breakLogStreams(container.id);
      await until(() => follows().length === 2 && docker.openLogStreams === 1, 'the log opened again');
      print(1, 2);
      expect(await next(feed, 1)).toEqual(['line 2']);
      await feed.return!();
    });

    /** When the stream ends (now), then when each follow opens the log again, as `follow` answers. */
    function reopenings(follow = docker.logs.follow): number[] {
      const opened = [performance.now()];
      docker.logs.follow = (...args) => {
        opened.push(performance.now());
        return follow(...args);
      };
      return opened;
    }
    /** Whether each pause before a follow was at least the backoff's least delay: 100 ms doubling, -20% of jitter, 1 ms early timers. */
    const pausedEnough = (opened: number[]) => opened.slice(1).map((at, index) => at - opened[index]! >= 0.8 * 100 * 2 ** index - 1);

    it('opens the log again after growing pauses, while the engine ends it at once and the store still shows the container running', async () => {
      print(2);
      const feed = await modules.followLogs('alpha', { tail: 100 });
      expect(await next(feed, 2)).toEqual(['line 0', 'line 1']);
      // Stopped on the engine, its event not yet in the store: each stream now ends at once, with the last line again.
      const opened = reopenings();
      docker.setState(container.id, 'exited');
      await until(() => opened.length === 4, 'the log opened again three times');
      expect(pausedEnough(opened)).toEqual([true, true, true]);
      await feed.return!();
    });

    it('passes on the error the engine writes when it ends each stream at once, dated with the latest line, without opening it over and over', async () => {
      print(1);
      const feed = await modules.followLogs('alpha', { tail: 100 });
      const first = await feed.next();
      // As a corrupt json-file log makes the engine do: its error in a frame of its own, without a stamp, then the end.
      const opened = reopenings((_id, query) => {
        const log = new LogDemultiplexer(false, query.since);
        const error = Buffer.from(`Error grabbing logs: invalid character '\\x00' looking for beginning of value\n`);
        const header = Buffer.from([3, 0, 0, 0, 0, 0, 0, error.length]);
        const lines = [...log.write(Buffer.concat([header, error])), ...log.end()];
        return Promise.resolve((async function* () {
          yield lines;
        })());
      });
      docker.breakLogStreams(container.id);
      const errors = await Promise.all([feed.next(), feed.next(), feed.next()]);
      expect(errors.map(({ value }) => [value?.text.slice(0, 20), value?.at])).toEqual(Array(3).fill(['Error grabbing logs:', first.value?.at]));
      expect(pausedEnough(opened)).toEqual([true, true, true]);
      await feed.return!();
    });

    it('with a tail of 0 delivers only new lines, also across a restart when nothing was printed meanwhile', async () => {
      print(3);
      const feed = await modules.followLogs('alpha', { tail: 0 });
      stop(container);
      start(container);
      await until(() => follows().length === 2, 'the log opened again');
      print(1, 3);
      expect(await next(feed, 1)).toEqual(['line 3']);
      await feed.return!();
    });

    it('ends when the container is removed, and when another container replaces it, leaving no stream open', async () => {
      const feed = await modules.followLogs('alpha', { tail: 100 });
      print(1);
      expect(await next(feed, 1)).toEqual(['line 0']);
      await remove(container);
      await expect(feed.next()).resolves.toEqual({ value: undefined, done: true });

      container = docker.addContainer(alpha, 'running');
      event(container, 'start');
      const replaced = await modules.followLogs('alpha', { tail: 100 });
      stop(container);
      const recreated = docker.addContainer(alpha, 'running');
      store.observe({ type: 'container', module: 'alpha', container: recreated, since: store.mark() });
      await expect(replaced.next()).resolves.toEqual({ value: undefined, done: true });
      expect(docker.openLogStreams).toBe(0);
    });

    it('ends at once for a module without a container', async () => {
      const feed = await modules.followLogs('beta', { tail: 100 });
      await expect(feed.next()).resolves.toEqual({ value: undefined, done: true });
      expect(follows()).toEqual([]);
    });

    it('closes the engine stream when the subscriber leaves, while following or while waiting for the next run', async () => {
      const feed = await modules.followLogs('alpha', { tail: 100 });
      expect(docker.openLogStreams).toBe(1);
      await feed.return!();
      expect(docker.openLogStreams).toBe(0);

      let listeners = 0;
      const onModuleChanged = store.onModuleChanged.bind(store);
      store.onModuleChanged = (listener) => {
        listeners++;
        const stopListening = onModuleChanged(listener);
        return () => {
          listeners--;
          return stopListening();
        };
      };
      const waiting = await modules.followLogs('alpha', { tail: 100 });
      stop(container);
      await until(() => listeners === 1, 'the follower to wait for the next run');
      await waiting.return!();
      expect([listeners, docker.openLogStreams]).toEqual([0, 0]);
    });

    it('drops what a slow subscriber cannot take, says how many before the next line, and holds no more than its buffer', async () => {
      const logs = new ModuleLogs({ docker, store, logger, bufferLength: 1_000 });
      const slow = await logs.follow('alpha', { tail: 0 });
      // The other subscriber has the default buffer: it takes each batch of the engine whole.
      const other = await modules.followLogs('alpha', { tail: 0 });
      const othersLines: string[] = [];
      void (async () => {
        for await (const line of other) othersLines.push(line.text);
      })();
      // Each line counts its text and 100 more: the first waiting next() takes one, the buffer holds 9 of 106.
      const first = slow.next();
      print(100);
      expect((await first).value?.text).toBe('line 0');
      const held = await next(slow, 9);
      expect(held).toEqual(Array.from({ length: 9 }, (_, index) => `line ${index + 1}`));
      print(1, 100);
      const after = await slow.next();
      expect(after.value).toMatchObject({ text: 'line 100', dropped: 90 });
      print(1, 101);
      expect((await slow.next()).value).not.toHaveProperty('dropped');
      await until(() => othersLines.length === 102, 'the other subscriber to get every line');
      await Promise.all([slow.return!(), other.return!()]);
    });

    it('fails as its first engine call fails', async () => {
      docker.fail('logs.follow', 500);
      await expect(modules.followLogs('alpha', { tail: 100 })).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
      expect(docker.openLogStreams).toBe(0);
    });
  });
});
