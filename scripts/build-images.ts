import { buildBusyboxImages } from './busybox-images.ts';

const roots = process.argv.slice(2);
if (roots.length === 0) {
  process.stderr.write('usage: build-images.ts <folder of image cases>...\n');
  process.exit(2);
}
for (const root of roots) {
  const tags = await buildBusyboxImages(root);
  process.stdout.write(`built ${tags.join(', ')}\n`);
}
