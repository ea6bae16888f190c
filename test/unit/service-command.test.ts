import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the service command', () => {
  it('is the same in the image as in npm start, V8 flags included', async () => {
    const manifest = JSON.parse(await read('package.json')) as { scripts: { start: string } };
    const cmd = /^CMD (\[.*\])$/m.exec(await read('Dockerfile'))?.[1];
    expect(cmd, 'the Dockerfile has an exec-form CMD').toBeDefined();
    expect(JSON.parse(cmd!)).toEqual(manifest.scripts.start.split(/\s+/));
  });
});
