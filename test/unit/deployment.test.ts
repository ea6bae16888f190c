import { readFile } from 'node:fs/promises';
import { dirname, posix } from 'node:path';
import { expect, it } from 'vitest';
import { parse } from 'yaml';

interface ComposeService {
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
}

// A file bind mount keeps the inode it was given: an atomic save on the host (a new file renamed over the
// old) is never seen inside, not by the folder watch nor by a SIGHUP. Only a folder mount follows it.
it("docker-compose.yml mounts docker.yaml's folder, not the file, for every berth", async () => {
  const compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8')) as { services: Record<string, ComposeService> };
  const berths = Object.entries(compose.services).filter(([, service]) => service.image === 'berth:local');
  expect(berths.length).toBeGreaterThan(0);
  for (const [name, service] of berths) {
    const config = service.environment?.BERTH_CONFIG;
    expect(config, `${name}: BERTH_CONFIG`).toMatch(/^\/.+\.yaml$/);
    const targets = (service.volumes ?? []).map((volume) => volume.split(':')[1]);
    expect(targets, `${name}: a volume onto ${dirname(config!)}`).toContain(posix.dirname(config!));
    expect(targets, `${name}: no file mount of docker.yaml`).not.toContain(config);
  }
});
