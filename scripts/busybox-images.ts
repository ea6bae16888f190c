import { access, copyFile, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import Dockerode from 'dockerode';

const tagLine = /^#\s*tag:\s*(\S+)\s*$/m;

/**
 * Builds every `<root>/<case>/Dockerfile` that starts FROM scratch with a static busybox: the
 * machine's busybox binary is copied into the build context, since no registry can be reached.
 * Each Dockerfile names its image in a `# tag: name:version` line.
 */
export async function buildBusyboxImages(root: string, docker = new Dockerode()): Promise<string[]> {
  const busybox = await findBusybox();
  const cases = (await readdir(root, { withFileTypes: true })).filter((entry) => entry.isDirectory());
  const tags: string[] = [];
  for (const entry of cases) {
    const dir = join(root, entry.name);
    const dockerfile = await readFile(join(dir, 'Dockerfile'), 'utf8').catch(() => undefined);
    if (dockerfile === undefined) continue;
    const tag = tagLine.exec(dockerfile)?.[1];
    if (!tag) throw new Error(`${join(dir, 'Dockerfile')}: add a "# tag: name:version" line naming the image`);
    await buildWithBusybox(docker, dir, tag, busybox);
    tags.push(tag);
  }
  return tags;
}

async function buildWithBusybox(docker: Dockerode, dir: string, tag: string, busybox: string): Promise<void> {
  const context = await mkdtemp(join(tmpdir(), 'berth-build-'));
  try {
    await cp(dir, context, { recursive: true });
    await copyFile(busybox, join(context, 'busybox'));
    const stream = await docker.buildImage({ context, src: await readdir(context, { recursive: true }) }, { t: tag, rm: true, forcerm: true });
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (error: Error | null, output: { error?: string }[]) => {
        const failed = error?.message ?? output.find((line) => line.error)?.error;
        if (failed) reject(new Error(`building ${tag} from ${dir} failed: ${failed}`));
        else resolve();
      });
    });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

export async function findBusybox(): Promise<string> {
  const candidates = [process.env.BUSYBOX, ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'busybox')), '/bin/busybox'];
  for (const candidate of candidates) {
    if (candidate && (await access(candidate).then(() => true, () => false))) return candidate;
  }
  throw new Error('no busybox binary found: install a static one (Debian: apt-get install busybox-static) or set BUSYBOX');
}
