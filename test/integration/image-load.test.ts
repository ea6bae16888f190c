import { execFile } from 'node:child_process';
import { openAsBlob } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerthApp } from '../../src/graphql/app.ts';
import { listen, type RunningServer } from '../../src/http/listen.ts';
import { createHarness, docker, testImage, waitFor, type Harness } from './harness.ts';

const loadMutation = 'mutation($file: File!) { loadImages(file: $file) }';

/** A GraphQL multipart request with one file, as clients such as Apollo's upload link send it. */
function uploadForm(file: Blob, filename = 'images.tar'): FormData {
  const form = new FormData();
  form.set('operations', JSON.stringify({ query: loadMutation, variables: { file: null } }));
  form.set('map', JSON.stringify({ 0: ['variables.file'] }));
  form.set('0', file, filename);
  return form;
}

// loadImages on the engine: an archive uploaded over HTTP is loaded, its module leaves NOT_LOADED; what the
// engine cannot read, or an upload cut short, leaves the engine as it was.
describe('loadImages', () => {
  let berth: Harness;
  let server: RunningServer;
  let folder: string;
  let reference: string;
  let archive: string;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'berth-load-'));
    const run = Math.random().toString(36).slice(2, 8);
    reference = `berth-test/loaded-${run}:1.0`;
    archive = join(folder, 'images.tar');
    await docker.getImage(testImage).tag({ repo: `berth-test/loaded-${run}`, tag: '1.0' });
    await promisify(execFile)('docker', ['save', '-o', archive, reference]);
    await docker.getImage(reference).remove();
    berth = createHarness(`modules:
  loaded:
    kind: http{{run}}
    image: ${reference}
`, { run });
    await berth.ready();
    server = await listen(berth.app, { host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await berth?.cleanup();
    await docker.getImage(reference).remove({ force: true }).catch(() => {});
    await rm(folder, { recursive: true, force: true });
  });

  const imageThere = async () => (await docker.listImages({ filters: { reference: [reference] } })).length > 0;
  const upload = async (file: Blob, app = berth.app) => {
    const response = await app.fetch(`${server.url}/graphql`, { method: 'POST', body: uploadForm(file), headers: { 'x-graphql-yoga-csrf': 'upload' } });
    return { status: response.status, body: (await response.json()) as { data?: { loadImages: string[] } | null; errors?: { message: string; extensions?: { code?: string } }[] } };
  };

  it('refuses an archive the engine cannot read, or one cut short, with LOAD_FAILED, and loads nothing', async () => {
    const whole = await readFile(archive);
    for (const file of [new Blob(['not a tar archive']), new Blob([whole.subarray(0, whole.length / 2)])]) {
      const { body } = await upload(file);
      expect(body.errors).toEqual([expect.objectContaining({ extensions: { code: 'LOAD_FAILED' }, message: expect.stringContaining('could not load the upload') })]);
    }
    expect(await imageThere()).toBe(false);
    expect(berth.store.get('loaded')!.status).toBe('NOT_LOADED');
  });

  it('refuses an upload past BERTH_MAX_UPLOAD_BYTES: by its length before reading it, or as it passes the limit', async () => {
    const small = createBerthApp({ modules: berth.modules, logger: pino({ level: 'silent' }), maxUploadBytes: 1000 });
    const smallServer = await listen(small, { host: '127.0.0.1', port: 0 });
    try {
      const byLength = await fetch(`${smallServer.url}/graphql`, { method: 'POST', body: uploadForm(await openAsBlob(archive)), headers: { 'x-graphql-yoga-csrf': 'upload' } });
      expect(byLength.status).toBe(413);
      expect(((await byLength.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('REQUEST_ENTITY_TOO_LARGE');
    } finally {
      await smallServer.close();
    }
    // Without a Content-Length (app.fetch sends none for a form), the limit stops the stream on the way.
    const { body } = await upload(await openAsBlob(archive), small);
    expect(body.errors).toEqual([expect.objectContaining({ extensions: { code: 'LOAD_FAILED' }, message: expect.stringContaining('larger than 1000 bytes') })]);
    expect(await imageThere()).toBe(false);
  });

  it('leaves the engine as it was when the uploader goes away mid-way', async () => {
    const form = new Response(uploadForm(await openAsBlob(archive)));
    const bytes = Buffer.from(await form.arrayBuffer());
    const url = new URL(`${server.url}/graphql`);
    await new Promise<void>((resolve) => {
      const cut = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': form.headers.get('content-type')!, 'content-length': bytes.length, 'x-graphql-yoga-csrf': 'upload' } });
      cut.on('error', () => resolve());
      cut.on('close', () => resolve());
      cut.write(bytes.subarray(0, bytes.length / 2), () => setTimeout(() => cut.destroy(), 200));
    });
    expect(await imageThere()).toBe(false);
    // berth goes on serving.
    expect((await berth.gql('{ module(name: "loaded") { status } }')).data).toEqual({ module: { status: 'NOT_LOADED' } });
  });

  it('streams a gzipped archive over HTTP to the engine: the image is loaded and its module autostarts', async () => {
    const gzipped = join(folder, 'images.tar.gz');
    await writeFile(gzipped, gzipSync(await readFile(archive)));
    const response = await fetch(`${server.url}/graphql`, { method: 'POST', body: uploadForm(await openAsBlob(gzipped), 'images.tar.gz'), headers: { 'x-graphql-yoga-csrf': 'upload' } });
    expect(await response.json()).toEqual({ data: { loadImages: [reference] } });
    expect(await imageThere()).toBe(true);
    await waitFor(() => berth.store.get('loaded')!.status === 'RUNNING', 'the loaded module to autostart');
  });

  it('refuses a file given any other way than the multipart request', async () => {
    const { errors } = await berth.gql(loadMutation, { file: 'images.tar' });
    expect(errors?.[0]?.message).toBe('Variable "$file" got invalid value "images.tar"; Expected type File.');
  });
});

