// Debian's Chromium driven by playwright-core (no browser download), for the browser tests.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots are kept as test artifacts here (git-ignored). */
export const artifacts = fileURLToPath(new URL('../../test-results', import.meta.url));

/** Headless Chromium that needs nothing but the pages it is sent to. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(chromiumPath)) {
    throw new Error(`No Chromium at ${chromiumPath}. Run ./dev test, or: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  }
  await mkdir(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // No sandbox: CI runs as root. No background networking, updates or sync: the page must need nothing but berth.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'],
  });
}
