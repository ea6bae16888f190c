import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { print } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { healthcheckImage } from '../fixtures/images.ts';
import { ModuleChangedDocument, StartModuleDocument, type ModuleChangedSubscription } from '../generated/operations.ts';
import { createHarness, docker, testImage, type Harness } from './harness.ts';
import { subscribe, wsClient, type Subscription } from './subscription.ts';

const run = promisify(execFile);
const dockerCli = (...args: string[]) => run('docker', args);

type Module = ModuleChangedSubscription['moduleChanged'];

/** What the engine says of the container's health, in berth's words. */
async function engineHealth(containerId: string): Promise<string> {
  const { State } = await docker.getContainer(containerId).inspect();
  return State.Health?.Status && State.Health.Status !== 'none' ? State.Health.Status.toUpperCase() : 'NONE';
}

/** The health values delivered, each change once. */
const healthSteps = (feed: Subscription<Module>) => feed.received.map((module) => module.health).filter((health, index, all) => health !== all[index - 1]);

// Health follows the container, fed by the engine's health_status events and the reads after changes;
// the image's own HEALTHCHECK and docker.yaml's healthcheck are followed the same way.
describe('module health on the engine', () => {
  let berth: Harness;
  let server: RunningServer;
  let client: Client;

  beforeAll(async () => {
    berth = createHarness(`modules:
  imaged:
    kind: imaged{{run}}
    image: ${healthcheckImage}
    autostart: false
  declared:
    kind: declared{{run}}
    image: ${testImage}
    autostart: false
    healthcheck:
      test: test ! -f /tmp/sick
      interval: 1s
      timeout: 10s
      retries: 1
  cycled:
    kind: cycled{{run}}
    image: ${healthcheckImage}
    autostart: false
  unchecked:
    kind: unchecked{{run}}
    image: ${healthcheckImage}
    autostart: false
    healthcheck:
      test: ["NONE"]
  plain:
    kind: plain{{run}}
    image: ${testImage}
    autostart: false
`);
    await berth.ready();
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
    client = wsClient(server);
  });
  afterAll(async () => {
    await client?.dispose();
    await server?.close();
    await berth?.cleanup();
  });

  const follow = (name: string) => subscribe<Module>(client, print(ModuleChangedDocument), 'moduleChanged', { names: [name], initial: true });
  const health = (health: string) => (module: Module) => module.health === health;

  it.each([
    ['its image', 'imaged'],
    ['docker.yaml', 'declared'],
  ])("goes STARTING then HEALTHY over moduleChanged with %s's healthcheck, and UNHEALTHY when the check fails", async (_, name) => {
    const feed = follow(name);
    await feed.until(health('NONE'), 'the opening snapshot');
    const started = await berth.gql(StartModuleDocument, { name });
    expect(started.data?.startModule.status).toBe('RUNNING');
    // A loaded machine runs the engine's probes late: the verdicts are waited for generously.
    const { containerId } = await feed.until(health('HEALTHY'), `${name} HEALTHY`, 0, 30_000);

    await dockerCli('exec', containerId!, 'touch', '/tmp/sick');
    const sick = await feed.until(health('UNHEALTHY'), `${name} UNHEALTHY`, 0, 30_000);
    expect(sick).toMatchObject({ status: 'RUNNING', containerId });
    expect(await engineHealth(containerId!)).toBe('UNHEALTHY');
    expect(healthSteps(feed)).toEqual(['NONE', 'STARTING', 'HEALTHY', 'UNHEALTHY']);
    expect(feed.errors).toEqual([]);
    feed.dispose();
  });

  // The engine stops the check with the container (and while it is paused) and calls it unhealthy then,
  // without an event: berth says so from the die and pause events. A start opens the check again.
  it('agrees with docker inspect through an outside stop, start, pause and unpause', async () => {
    const feed = follow('cycled');
    await feed.until(health('NONE'), 'the opening snapshot');
    await berth.gql(StartModuleDocument, { name: 'cycled' });
    const { containerId } = await feed.until(health('HEALTHY'), 'cycled HEALTHY');
    const queried = async () => (await berth.gql(`{ module(name: "cycled") { status health } }`)).data?.module;

    let mark = feed.received.length;
    await dockerCli('stop', '-t', '2', containerId!);
    await feed.until((module) => module.status === 'EXITED', 'the outside stop', mark);
    expect(await queried()).toEqual({ status: 'EXITED', health: await engineHealth(containerId!) });

    mark = feed.received.length;
    await dockerCli('start', containerId!);
    await feed.until(health('STARTING'), 'the check to open again', mark);
    await feed.until(health('HEALTHY'), 'the check to pass again', mark);

    mark = feed.received.length;
    await dockerCli('pause', containerId!);
    await feed.until(health('UNHEALTHY'), 'the paused check', mark);
    expect(await queried()).toEqual({ status: 'EXITED', health: await engineHealth(containerId!) });
    await dockerCli('unpause', containerId!);
    await feed.until(health('HEALTHY'), 'the check to pass after the unpause', mark);

    expect(healthSteps(feed)).toEqual(['NONE', 'STARTING', 'HEALTHY', 'UNHEALTHY', 'STARTING', 'HEALTHY', 'UNHEALTHY', 'HEALTHY']);
    expect(feed.errors).toEqual([]);
    feed.dispose();
  });

  it('is NONE without a healthcheck, and when docker.yaml turns the image’s off', async () => {
    for (const name of ['plain', 'unchecked']) {
      const started = await berth.gql(`mutation($name: String!) { startModule(name: $name) { status health containerId } }`, { name });
      expect(started.data?.startModule).toMatchObject({ status: 'RUNNING', health: 'NONE' });
      expect(await engineHealth(started.data?.startModule.containerId)).toBe('NONE');
    }
  });
});
