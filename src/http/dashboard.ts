import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'graphql-yoga';

/** Where `npm run build` puts the dashboard (vite, dashboard/vite.config.ts): dist/dashboard, from src/http or dist/http alike. */
export const dashboardFolder = fileURLToPath(new URL('../../dist/dashboard', import.meta.url));

/**
 * The page holds no data and runs only its own script: every API call it makes carries the token.
 * connect-src 'self' lets it reach /graphql over fetch and graphql-ws (same-origin ws: is 'self').
 */
export const dashboardPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

interface StaticFile {
  body: Uint8Array<ArrayBuffer>;
  headers: Record<string, string>;
}

/**
 * The operator dashboard: GET / answers the page, GET /assets/<hashed name> its script and styles,
 * without a token (placed before authentication). The files are read once, on the first request, so
 * a service nobody browses does not hold them; a berth whose dashboard was not built answers 404 saying so.
 */
export function useDashboard(folder = dashboardFolder): Plugin {
  let files: Promise<Map<string, StaticFile>> | undefined;
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return;
      if (url.pathname !== '/' && !url.pathname.startsWith('/assets/')) return;
      // A read that failed (not a missing build) is tried again at the next request rather than kept.
      files ??= readDashboard(folder).catch((error: unknown) => {
        files = undefined;
        throw error;
      });
      const file = (await files).get(url.pathname);
      if (!file) {
        endResponse(new fetchAPI.Response(notFound(url.pathname, folder), { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' } }));
        return;
      }
      endResponse(new fetchAPI.Response(request.method === 'HEAD' ? null : file.body, { status: 200, headers: file.headers }));
    },
  };
}

function notFound(path: string, folder: string): string {
  return path === '/' ? `the dashboard is not built (no ${join(folder, 'index.html')}): run npm run build\n` : 'not found\n';
}

/** The page at / and each asset at /assets/<name>; an empty map when the folder is missing. */
async function readDashboard(folder: string): Promise<Map<string, StaticFile>> {
  const files = new Map<string, StaticFile>();
  let assets: string[];
  try {
    files.set('/', staticFile(await readFile(join(folder, 'index.html')), '.html', 'no-cache'));
    assets = await readdir(join(folder, 'assets'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return files;
    throw error;
  }
  for (const name of assets) {
    const type = extname(name);
    // Vite names every asset by a hash of its content: a new build is new names, so a copy never goes stale.
    if (contentTypes[type]) files.set(`/assets/${name}`, staticFile(await readFile(join(folder, 'assets', name)), type, 'public, max-age=31536000, immutable'));
  }
  return files;
}

function staticFile(content: Buffer, type: string, cacheControl: string): StaticFile {
  const headers: Record<string, string> = {
    'content-type': contentTypes[type]!,
    'cache-control': cacheControl,
    'x-content-type-options': 'nosniff',
  };
  if (type === '.html') Object.assign(headers, { 'content-security-policy': dashboardPolicy, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' });
  return { body: new Uint8Array(content), headers };
}
