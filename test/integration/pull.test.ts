import { request as httpRequest } from 'node:http';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createBerthApp, type BerthApp } from '../../src/graphql/app.ts';
import type { Authenticator } from '../../src/auth/authenticator.ts';
import { registryAuthHeader } from '../../src/engine/image-pull-client.ts';
import {
  ImagePullProgressDocument,
  ModuleStatusChangedDocument,
  PullModuleImageDocument,
  type ImagePullProgressSubscription,
  type ModuleStatusChangedSubscription,
} from '../generated/operations.ts';
import { callsPath, probeHeader } from './engine-proxy.ts';
import { createHarness, waitFor, type Harness, type HarnessOptions } from './harness.ts';
import { randomLayerBytes, randomLayers, removeImage, startRegistry, type Registry } from './registry.ts';

type Pull = ImagePullProgressSubscription['imagePullProgress'];
type StatusChange = ModuleStatusChangedSubscription['moduleStatusChanged'];

interface Events<T> {
  received: T[];
  /** Resolves when the server ends the subscription. */
  ended: Promise<void>;
  close(): void;
}

/**
 * A subscription over SSE through the app. The app answers once the subscription's source is set up, so
 * a pull started after this resolves cannot be missed.
 */
async function subscribeSse<T, V>(app: BerthApp, document: TypedDocumentNode<T, V>, variables: V, field: keyof T): Promise<Events<T[keyof T]>> {
  const controller = new AbortController();
  const headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
  const response = await app.fetch('http://berth/graphql', { method: 'POST', headers, body: JSON.stringify({ query: print(document), variables }), signal: controller.signal });
  const received: T[keyof T][] = [];
  const ended = (async () => {
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of response.body!) {
      text += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(text.slice(0, end))?.[1];
        text = text.slice(end + 2);
        if (data) received.push((JSON.parse(data) as { data: T }).data[field]);
      }
    }
  })().catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  return { received, ended, close: () => controller.abort() };
}

/** How many times berth has called an engine endpoint in this run, from the test's socket proxy. */
async function engineCalls(endpoint: string): Promise<number> {
  const body = await new Promise<string>((resolve, reject) => {
    const call = httpRequest({ socketPath: inject('engineProxySocket'), path: callsPath, headers: { [probeHeader]: '1' } }, (answer) => {
      let text = '';
      answer.on('data', (chunk: Buffer) => (text += chunk.toString()));
      answer.on('end', () => resolve(text));
    });
    call.on('error', reject);
    call.end();
  });
  return (JSON.parse(body) as { calls: Record<string, number> }).calls[endpoint] ?? 0;
}

const modulesOf = (image: string) => `modules:
  auto:
    kind: auto{{run}}
    image: ${image}
  manual:
    kind: manual{{run}}
    image: ${image}
    autostart: false
`;

/**
 * A registry with one layered image pushed, and berth on a docker.yaml of its own per test; after each
 * test its containers and the pulled image (with its layers) are removed, so that the next pull downloads again.
 */
function pullTests(auth?: { username: string; password: string }) {
  const context = { registry: undefined as unknown as Registry, image: '' };
  const harnesses: Harness[] = [];
  beforeAll(async () => {
    context.registry = await startRegistry({ auth });
    context.image = await context.registry.pushLayeredImage(`berth-test/layers-${Math.random().toString(36).slice(2, 8)}`);
  });
  afterEach(async () => {
    for (const berth of harnesses.splice(0)) await berth.cleanup();
    await removeImage(context.image);
  });
  afterAll(async () => {
    await context.registry?.stop();
  });
  const berthOn = async (yaml: string, options?: HarnessOptions) => {
    const berth = createHarness(yaml, options);
    harnesses.push(berth);
    await berth.ready();
    return berth;
  };
  return { context, berthOn };
}

describe('pullModuleImage from a registry without sign-in', () => {
  const { context, berthOn } = pullTests();

  it('shows the download growing layer by layer, ends DONE, and the module goes NOT_CREATED, then autostarts', async () => {
    const { image } = context;
    const berth = await berthOn(modulesOf(image));
    expect(berth.modules.list().map((module) => module.status)).toEqual(['NOT_LOADED', 'NOT_LOADED']);
    const statuses = await subscribeSse(berth.app, ModuleStatusChangedDocument, { names: ['auto', 'manual'] }, 'moduleStatusChanged');
    const progress = await subscribeSse(berth.app, ImagePullProgressDocument, { name: 'auto' }, 'imagePullProgress');

    const answer = await berth.gql(PullModuleImageDocument, { name: 'auto' });
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.pullModuleImage).toMatchObject({ module: { name: 'auto' }, image, error: null });
    await progress.ended;

    const pulls = progress.received as Pull[];
    const last = pulls.at(-1)!;
    expect(pulls[0]!.state).toBe('PULLING');
    expect(pulls.slice(0, -1).every((pull) => pull.state === 'PULLING')).toBe(true);
    expect(last).toMatchObject({ state: 'DONE', image, error: null, module: { name: 'auto' } });
    // Three layers of random bytes are downloaded; the busybox layers may already be on the engine.
    expect(last.total).toBeGreaterThanOrEqual(randomLayers * randomLayerBytes);
    expect(last.current).toBe(last.total);
    const currents = pulls.map((pull) => pull.current);
    expect(currents).toEqual([...currents].sort((a, b) => a - b));
    expect(currents[0]).toBeLessThan(last.current);
    expect(last.layers.length).toBeGreaterThanOrEqual(randomLayers + 1);
    expect(last.layers.every((layer) => ['Pull complete', 'Already exists'].includes(layer.status))).toBe(true);
    expect(last.layers.filter((layer) => layer.status === 'Pull complete')).toHaveLength(last.layers.length - last.layers.filter((layer) => layer.status === 'Already exists').length);

    // DONE is sent once the store has the image: a query right after sees it.
    expect(berth.modules.get('manual').status).toBe('NOT_CREATED');
    await waitFor(() => berth.modules.get('auto').status === 'RUNNING', 'auto to autostart');
    const changes = statuses.received as StatusChange[];
    const steps = (name: string) => changes.filter((change) => change.module.name === name).map((change) => `${change.previous}→${change.status}`);
    expect(steps('manual')).toEqual(['NOT_LOADED→NOT_CREATED']);
    expect(steps('auto').slice(0, 1)).toEqual(['NOT_LOADED→NOT_CREATED']);
    expect(steps('auto').at(-1)).toMatch(/→RUNNING$/);
    statuses.close();

    // A subscriber that comes after the end gets how it ended, and the subscription ends.
    const late = await subscribeSse(berth.app, ImagePullProgressDocument, { name: 'manual' }, 'imagePullProgress');
    await late.ended;
    expect(late.received).toEqual([{ ...last, module: { name: 'manual', status: 'NOT_CREATED' } }]);
  });

  it('joins a pull under way: one engine pull for concurrent calls, the same progress for every module of the image', async () => {
    const { image } = context;
    const berth = await berthOn(modulesOf(image));
    const before = await engineCalls('POST /images/create');
    const [auto, manual] = await Promise.all([
      subscribeSse(berth.app, ImagePullProgressDocument, { name: 'auto' }, 'imagePullProgress'),
      subscribeSse(berth.app, ImagePullProgressDocument, { name: 'manual' }, 'imagePullProgress'),
    ]);
    const answers = await Promise.all(['auto', 'auto', 'manual'].map((name) => berth.gql(PullModuleImageDocument, { name })));
    expect(answers.map((answer) => answer.errors)).toEqual([undefined, undefined, undefined]);
    await Promise.all([auto.ended, manual.ended]);
    expect(await engineCalls('POST /images/create')).toBe(before + 1);
    const lastOf = (events: Events<unknown>) => events.received.at(-1) as Pull;
    expect(lastOf(auto)).toMatchObject({ state: 'DONE', module: { name: 'auto' } });
    expect({ ...lastOf(manual), module: undefined }).toEqual({ ...lastOf(auto), module: undefined });
  });

  it('fails PULL_FAILED with the registry\'s message for a tag the registry does not have; the module stays NOT_LOADED', async () => {
    const { image } = context;
    const missing = image.replace(/:1$/, ':missing');
    const berth = await berthOn(`modules:\n  app:\n    kind: app{{run}}\n    image: ${missing}\n`);
    const answer = await berth.gql(PullModuleImageDocument, { name: 'app' });
    expect(answer.data).toBeNull();
    expect(answer.errors).toEqual([expect.objectContaining({ path: ['pullModuleImage'], extensions: { code: 'PULL_FAILED' } })]);
    expect(answer.errors![0]!.message).toMatch(/^pulling ".*:missing" failed: manifest for .*:missing not found: manifest unknown/);
    // How it ended stays for a subscriber that comes later.
    const later = await subscribeSse(berth.app, ImagePullProgressDocument, { name: 'app' }, 'imagePullProgress');
    await later.ended;
    expect(later.received).toEqual([expect.objectContaining({ state: 'FAILED', error: answer.errors![0]!.message, module: { name: 'app', status: 'NOT_LOADED' } })]);
  });

  it('fails when the engine reports the failure inside its stream (HTTP 200, then an error line)', async () => {
    const { image } = context;
    const restore = await context.registry.hideLayers();
    try {
      const berth = await berthOn(modulesOf(image));
      const progress = await subscribeSse(berth.app, ImagePullProgressDocument, { name: 'auto' }, 'imagePullProgress');
      const answer = await berth.gql(PullModuleImageDocument, { name: 'auto' });
      // The engine accepted the pull: the manifest is there, the layers are not.
      expect(answer.errors).toBeUndefined();
      await progress.ended;
      expect(progress.received.at(-1)).toMatchObject({ state: 'FAILED', error: `pulling "${image}" failed: unknown blob` });
      expect(berth.modules.get('auto').status).toBe('NOT_LOADED');
    } finally {
      await restore();
    }
  });

  it('refuses a viewer both the pull and its progress, as operator-only', async () => {
    const berth = await berthOn(`modules:\n  app:\n    kind: app{{run}}\n    image: ${context.registry.host}/berth-test/never:1\n`);
    const viewerOnly: Authenticator = {
      enabled: true,
      authenticate: (token) => (token === 'viewer-token' ? { name: 'grafana', role: 'viewer' } : undefined),
      isCurrent: () => true,
      onChange: () => () => {},
      close: () => {},
    };
    const app = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), auth: viewerOnly });
    const ask = async (query: string) => {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer viewer-token' };
      const response = await app.fetch('http://berth/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables: { name: 'app' } }), signal: AbortSignal.timeout(10_000) });
      return response.text();
    };
    expect(await ask(print(PullModuleImageDocument))).toContain('FORBIDDEN');
    const refused = await ask(print(ImagePullProgressDocument));
    expect(refused).toContain('may not select Subscription.imagePullProgress');
    expect(refused).toContain('FORBIDDEN');
  });
});

describe('pullModuleImage from a registry that needs sign-in', () => {
  const username = 'berth-puller';
  const password = 'Pa55-w0rd-of-the-registry';
  const { context, berthOn } = pullTests({ username, password });

  const withCredentials = (image: string) => `registries:
  "${context.registry.host}":
    username: ${username}
    password: \${BERTH_TEST_REGISTRY_PASSWORD}
${modulesOf(image)}`;

  it('signs in with the password from ${VAR}, and neither serves nor logs it', async () => {
    const { image } = context;
    const logs: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => logs.push(line) });
    const berth = await berthOn(withCredentials(image), { env: { BERTH_TEST_REGISTRY_PASSWORD: password }, logger });
    const progress = await subscribeSse(berth.app, ImagePullProgressDocument, { name: 'manual' }, 'imagePullProgress');
    const answer = await berth.gql(PullModuleImageDocument, { name: 'manual' });
    expect(answer.errors).toBeUndefined();
    await progress.ended;
    expect(progress.received.at(-1)).toMatchObject({ state: 'DONE', module: { name: 'manual', status: 'NOT_CREATED' } });
    const header = registryAuthHeader({ username, password, serverAddress: context.registry.host });
    const served = JSON.stringify([answer, progress.received]);
    for (const text of [served, logs.join('')]) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(header);
    }
    expect(logs.join('')).toContain('image pulled');
  });

  it('fails PULL_FAILED with the registry\'s message for a wrong password, which it neither serves nor logs', async () => {
    const { image } = context;
    const wrong = 'not-the-Pa55-w0rd';
    const logs: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => logs.push(line) });
    const berth = await berthOn(withCredentials(image), { env: { BERTH_TEST_REGISTRY_PASSWORD: wrong }, logger });
    const answer = await berth.gql(PullModuleImageDocument, { name: 'auto' });
    expect(answer.errors).toEqual([expect.objectContaining({ extensions: { code: 'PULL_FAILED' } })]);
    expect(answer.errors![0]!.message).toBe(`pulling "${image}" failed: unauthorized: authentication required`);
    for (const text of [JSON.stringify(answer), logs.join('')]) {
      expect(text).not.toContain(wrong);
      expect(text).not.toContain(registryAuthHeader({ username, password: wrong, serverAddress: context.registry.host }));
    }
    expect(logs.join('')).toContain('image pull failed');
    expect(berth.modules.get('auto').status).toBe('NOT_LOADED');
  });

  it('fails PULL_FAILED without credentials for the registry', async () => {
    const { image } = context;
    const berth = await berthOn(modulesOf(image));
    const answer = await berth.gql(PullModuleImageDocument, { name: 'auto' });
    expect(answer.errors).toEqual([expect.objectContaining({ extensions: { code: 'PULL_FAILED' } })]);
    expect(answer.errors![0]!.message).toContain('no basic auth credentials');
  });
});
