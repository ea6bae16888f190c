import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { dashboardPolicy, useDashboard } from '../../src/http/dashboard.ts';

const schema = createSchema({ typeDefs: 'type Query { ok: Boolean }', resolvers: { Query: { ok: () => true } } });

async function builtDashboard(): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'berth-dashboard-'));
  await mkdir(join(folder, 'assets'));
  await writeFile(join(folder, 'index.html'), '<!doctype html><script type="module" src="/assets/index-abc.js"></script>');
  await writeFile(join(folder, 'assets', 'index-abc.js'), 'console.log(1)');
  await writeFile(join(folder, 'assets', 'index-abc.css'), 'body{}');
  await writeFile(join(folder, 'assets', 'notes.txt'), 'not an asset type');
  return folder;
}

const appOn = (folder: string) => createYoga({ schema, plugins: [useDashboard(folder)], landingPage: false });

describe('the dashboard files (useDashboard)', () => {
  it('answers the page at / with its policy, never cached without asking, and HEAD without a body', async () => {
    const app = appOn(await builtDashboard());
    const page = await app.fetch('http://berth/');
    expect(page.status).toBe(200);
    expect(Object.fromEntries(page.headers)).toMatchObject({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': dashboardPolicy,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    expect(await page.text()).toContain('/assets/index-abc.js');
    const head = await app.fetch('http://berth/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
  });

  it('answers hashed assets by their type, cached for good; other names are 404', async () => {
    const app = appOn(await builtDashboard());
    const script = await app.fetch('http://berth/assets/index-abc.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await script.text()).toBe('console.log(1)');
    expect((await app.fetch('http://berth/assets/index-abc.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await app.fetch('http://berth/assets/notes.txt')).status).toBe(404);
    expect((await app.fetch('http://berth/assets/../index.html')).status).not.toBe(200);
  });

  it('leaves every other request to GraphQL, and POST / too', async () => {
    const app = appOn(await builtDashboard());
    const answer = await app.fetch('http://berth/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ ok }"}' });
    expect(await answer.json()).toEqual({ data: { ok: true } });
    expect((await app.fetch('http://berth/', { method: 'POST' })).headers.get('content-security-policy')).toBeNull();
  });

  it('says how to build the dashboard when it was not built', async () => {
    const app = appOn(join(tmpdir(), 'berth-no-dashboard-here'));
    const page = await app.fetch('http://berth/');
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('the dashboard is not built');
  });
});
