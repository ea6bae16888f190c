import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { EngineEvent } from '../../src/engine/engine-types.ts';
import { engineEvents, filteredActions } from '../../src/engine/event-stream.ts';

const start = { Type: 'container', Action: 'start', Actor: { ID: 'abc123', Attributes: { 'berth.module': 'alpha', name: 'alpha_svc' } } };
const line = (event: object) => `${JSON.stringify(event)}\n`;

async function collect(events: AsyncIterable<EngineEvent>): Promise<EngineEvent[]> {
  const all: EngineEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

function dripped(chunks: (string | Buffer)[]): PassThrough {
  const stream = new PassThrough();
  void (async () => {
    for (const chunk of chunks) {
      await sleep(5);
      stream.write(chunk);
    }
    stream.end();
  })();
  return stream;
}

function bound<T>(promise: Promise<T>, ms = 1000): Promise<T | 'timed out'> {
  return Promise.race([promise, sleep(ms).then(() => 'timed out' as const)]);
}

describe('engineEvents', () => {
  it('reassembles an event split inside a string across three chunks', async () => {
    const text = line(start);
    const cut = text.indexOf('alpha_svc') + 3;
    const events = await collect(engineEvents(dripped([text.slice(0, 10), text.slice(10, cut), text.slice(cut)])));
    expect(events).toEqual([{ type: 'container', action: 'start', id: 'abc123', attributes: { 'berth.module': 'alpha', name: 'alpha_svc' }, time: expect.any(Date) }]);
  });

  it('reassembles a multi-byte character split across two buffers', async () => {
    const bytes = Buffer.from(line({ ...start, Actor: { ID: 'abc123', Attributes: { name: 'café_€' } } }));
    const cut = bytes.indexOf(Buffer.from('€')) + 1;
    const events = await collect(engineEvents(dripped([bytes.subarray(0, cut), bytes.subarray(cut)])));
    expect(events.map((event) => event.attributes.name)).toEqual(['café_€']);
  });

  it('reads several events from one chunk, with CRLF endings and blank lines', async () => {
    const stop = { Type: 'container', Action: 'stop', Actor: { ID: 'def456' } };
    const chunk = `${JSON.stringify(start)}\r\n\r\n   \n${JSON.stringify(stop)}\r\n\n`;
    const onMalformed = vi.fn();
    const events = await collect(engineEvents(Readable.from([Buffer.from(chunk)]), onMalformed));
    expect(events.map(({ action, id }) => [action, id])).toEqual([
      ['start', 'abc123'],
      ['stop', 'def456'],
    ]);
    expect(onMalformed).not.toHaveBeenCalled();
  });

  it('passes a malformed line to onMalformed and reads on', async () => {
    const onMalformed = vi.fn();
    const stream = Readable.from([Buffer.from(`${line(start)}{"Type":"container",\n${line({ ...start, Action: 'die' })}`)]);
    const events = await collect(engineEvents(stream, onMalformed));
    expect(events.map((event) => event.action)).toEqual(['start', 'die']);
    expect(onMalformed).toHaveBeenCalledExactlyOnceWith('{"Type":"container",');
  });

  it('yields container and image events and skips other types', async () => {
    const network = { Type: 'network', Action: 'connect', Actor: { ID: 'net1' } };
    const image = { Type: 'image', Action: 'tag', Actor: { ID: 'sha256:feed', Attributes: { name: 'example/alpha:1' } } };
    const events = await collect(engineEvents(Readable.from([line(network), line(image), line(start)])));
    expect(events).toEqual([
      { type: 'image', action: 'tag', id: 'sha256:feed', attributes: { name: 'example/alpha:1' }, time: expect.any(Date) },
      expect.objectContaining({ type: 'container', id: 'abc123' }),
    ]);
  });

  it('takes the event time from timeNano', async () => {
    const events = await collect(engineEvents(Readable.from([line({ ...start, timeNano: 1_795_440_000_123_000_000 })])));
    expect(events[0]?.time.getTime()).toBe(1_795_440_000_123);
  });

  it('splits the detail from the action at the first colon, and gives none to an action without one', async () => {
    const actions = ['health_status: healthy', 'health_status: unhealthy', 'exec_create: /bin/sh -c echo a:b', 'start'];
    const events = await collect(engineEvents(Readable.from(actions.map((Action) => line({ ...start, Action })))));
    expect(events.map(({ action, detail }) => [action, detail])).toEqual([
      ['health_status', 'healthy'],
      ['health_status', 'unhealthy'],
      ['exec_create', '/bin/sh -c echo a:b'],
      ['start', undefined],
    ]);
    expect(events[3]).not.toHaveProperty('detail');
  });

  it('falls back to the top-level id and empty attributes', async () => {
    const events = await collect(engineEvents(Readable.from([line({ Type: 'image', Action: 'delete', id: 'sha256:gone' })])));
    expect(events).toEqual([{ type: 'image', action: 'delete', id: 'sha256:gone', attributes: {}, time: expect.any(Date) }]);
  });

  it('ends when the stream is destroyed without an end', async () => {
    const stream = new PassThrough();
    const events = engineEvents(stream);
    stream.write(line(start));
    expect((await events.next()).value).toMatchObject({ id: 'abc123' });
    const pending = events.next();
    stream.destroy();
    expect(await bound(pending)).toEqual({ done: true, value: undefined });
  });

  it('ends when the stream is destroyed while events are still coming', async () => {
    const stream = new PassThrough();
    const received: string[] = [];
    const iteration = (async () => {
      for await (const event of engineEvents(stream)) received.push(event.id);
    })();
    stream.write(line({ ...start, Actor: { ID: 'first' } }));
    await sleep(10);
    stream.write(`{"Type":"container","Action":"st`);
    stream.destroy();
    expect(await bound(iteration)).toBeUndefined();
    expect(received).toEqual(['first']);
  });

  it('rejects when the stream is destroyed with an error', async () => {
    const stream = new PassThrough();
    const pending = engineEvents(stream).next();
    stream.destroy(new Error('connection reset'));
    await expect(pending).rejects.toThrow('connection reset');
  });

  // Fails today: the 'close' listener is attached on the first next(), after the close already happened.
  it('ends when the stream was destroyed before the first next()', async () => {
    const stream = new PassThrough();
    const events = engineEvents(stream);
    stream.destroy();
    await sleep(10);
    expect(await bound(events.next(), 200)).toEqual({ done: true, value: undefined });
  });
});

// Podman 4.3's Docker API, as seen on `podman system service`: these are its lines, shortened.
describe("Podman's events, read as Docker's", () => {
  const podman = (Type: string, Action: string, ID: string, Attributes: Record<string, string>) => line({ status: Action, id: ID, Type, Action, Actor: { ID, Attributes }, scope: 'local', time: 1796040159, timeNano: 1796040159243117600 });

  it("takes a container's remove for destroy and an image's loadfromarchive (which names only its archive) for load", async () => {
    const stream = Readable.from([
      podman('container', 'remove', 'abc123', { name: 'alpha_svc', 'berth.module': 'alpha' }),
      podman('image', 'loadfromarchive', '', { name: '/var/tmp/libpod-images-load.tar1' }),
      podman('image', 'remove', 'sha256:e9cb', { name: 'localhost/app:1' }),
      podman('container', 'died', 'abc123', { exitCode: '137' }),
    ]);
    const events = await collect(engineEvents(stream));
    expect(events.map(({ type, action, id }) => `${type} ${action} ${id}`)).toEqual(['container destroy abc123', 'image load ', 'image delete sha256:e9cb', 'container die abc123']);
    expect(events[0]!.time).toEqual(new Date(1796040159243));
  });

  it("prefixes an image event's bare hex id with sha256:, as Docker and inspect name it, and leaves container ids and references alone", async () => {
    const hex = 'e9cb6893dea04144af4be0398afd93ade07e712a460e9e346dca4b1a9fd1e21a';
    const stream = Readable.from([podman('image', 'untag', hex, { name: 'localhost/app:1' }), podman('image', 'tag', 'app:1', {}), podman('container', 'start', hex, {})]);
    const events = await collect(engineEvents(stream));
    expect(events.map(({ type, id }) => `${type} ${id}`)).toEqual([`image sha256:${hex}`, 'image app:1', `container ${hex}`]);
  });

  it('still refuses a container or image event without an id, but for a load', async () => {
    const onMalformed = vi.fn();
    const events = await collect(engineEvents(Readable.from([podman('container', 'start', '', {}), podman('image', 'tag', '', { name: 'app:1' })]), onMalformed));
    expect(events).toEqual([]);
    expect(onMalformed).toHaveBeenCalledTimes(2);
  });

  it("asks the engine's filter for Podman's names too, which it matches before renaming", () => {
    expect(filteredActions(['start', 'die', 'destroy', 'delete', 'load']).sort()).toEqual(['delete', 'destroy', 'die', 'died', 'load', 'loadfromarchive', 'remove', 'start'].sort());
    expect(filteredActions(['start', 'pause'])).toEqual(['start', 'pause']);
  });
});
