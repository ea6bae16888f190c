import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { allowedEndpoint, engineEndpoints } from '../../src/engine/engine-endpoints.ts';

// The allowlist is written three times for three readers: the code's list (which the test proxy
// enforces), the README's table, and the socket proxy's rules in docker-compose.yml.
describe('the engine endpoint allowlist, where it is written down', () => {
  const example = (path: string) => `/v1.41${path.replace(/\{[^}]+\}/g, 'berth_x')}`;

  it('the README table lists exactly the endpoints of the code', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| (GET|POST|DELETE) \| `([^`]+)` \|/gm)].map(([, method, path]) => `${method} ${path}`);
    expect(rows.sort()).toEqual(engineEndpoints.map(({ method, path }) => `${method} ${path}`).sort());
  });

  it("the compose file's socket proxy lets through each endpoint, and refuses what the code refuses", async () => {
    const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { services: Record<string, { command?: string[] }> };
    const rules = new Map(
      compose.services['socket-proxy']!.command!.flatMap((flag) => {
        const match = /^-allow(GET|POST|DELETE)=(.+)$/.exec(flag);
        return match ? [[match[1]!, new RegExp(match[2]!.replaceAll('$$', '$'))] as const] : [];
      }),
    );
    const proxyAllows = (method: string, path: string) => rules.get(method)?.test(path) ?? false;
    for (const { method, path } of engineEndpoints) expect(proxyAllows(method, example(path)), `${method} ${path}`).toBe(true);
    const refused = ['GET /v1.41/volumes', 'GET /v1.41/networks/x', 'POST /v1.41/networks/prune', 'GET /v1.41/volumes/x/y', 'POST /v1.41/containers/x/exec', 'DELETE /v1.41/volumes/x', 'POST /v1.41/networks/x/disconnect', 'DELETE /v1.41/images/x', 'POST /v1.41/swarm/init', 'POST /v1.41/nodes/x/update', 'GET /v1.41/services/x/logs', 'GET /v1.41/secrets', 'DELETE /v1.41/nodes/x'];
    for (const call of refused) {
      const [method, path] = call.split(' ') as [string, string];
      expect(allowedEndpoint(method, path), call).toBeUndefined();
      expect(proxyAllows(method, path), call).toBe(false);
    }
  });

  it("the README's socket-proxy example has the compose file's rules", async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const compose = await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
    const example = [...readme.matchAll(/^\s+-allow(GET|POST|DELETE)='([^']+)'/gm)].map(([, method, rule]) => `${method} ${rule}`);
    const rules = [...compose.matchAll(/-allow(GET|POST|DELETE)=(\S+)/g)].map(([, method, rule]) => `${method} ${rule!.replaceAll('$$', '$')}`);
    expect(example).toEqual(rules);
  });
});
