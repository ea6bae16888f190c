import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { knownHostVerifier } from '../../src/engine/known-hosts.ts';

const folder = mkdtempSync(join(tmpdir(), 'berth-known-hosts-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** A host key as a server offers it (the raw blob) and as known_hosts writes it (base64). */
const key = () => {
  const blob = randomBytes(51);
  return { blob, text: blob.toString('base64') };
};
const hashed = (name: string) => {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
};

function knownHosts(...lines: string[]): string {
  const file = join(folder, `known_hosts_${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('knownHostVerifier', () => {
  const edge = key();
  const other = key();

  it('trusts the key known_hosts lists for the host, and no other key', () => {
    const file = knownHosts('# engines', `gpu.example.com,edge.example.com ssh-ed25519 ${edge.text} ops@laptop`);
    expect(knownHostVerifier('edge.example.com', 22, [file])(edge.blob)).toBe(true);
    expect(knownHostVerifier('EDGE.example.com', 22, [file])(edge.blob)).toBe(true);
    expect(knownHostVerifier('edge.example.com', 22, [file])(other.blob)).toBe(false);
    expect(knownHostVerifier('crawl.example.com', 22, [file])(edge.blob)).toBe(false);
  });

  it('reads a port other than 22 as [host]:port, and hashed names as ssh-keyscan -H writes them', () => {
    const file = knownHosts(`[edge.example.com]:2222 ssh-ed25519 ${edge.text}`, `${hashed('10.0.0.9')} ecdsa-sha2-nistp256 ${other.text}`);
    expect(knownHostVerifier('edge.example.com', 2222, [file])(edge.blob)).toBe(true);
    expect(knownHostVerifier('edge.example.com', 22, [file])(edge.blob)).toBe(false);
    expect(knownHostVerifier('10.0.0.9', 22, [file])(other.blob)).toBe(true);
    expect(knownHostVerifier('10.0.0.8', 22, [file])(other.blob)).toBe(false);
  });

  it('takes no trust from a revoked or CA line, and none from a file it cannot read', () => {
    const file = knownHosts(`@revoked edge.example.com ssh-ed25519 ${edge.text}`, `@cert-authority edge.example.com ssh-ed25519 ${other.text}`);
    expect(knownHostVerifier('edge.example.com', 22, [file])(edge.blob)).toBe(false);
    expect(knownHostVerifier('edge.example.com', 22, [file])(other.blob)).toBe(false);
    expect(knownHostVerifier('edge.example.com', 22, [join(folder, 'missing'), knownHosts(`edge.example.com ssh-ed25519 ${edge.text}`)])(edge.blob)).toBe(true);
  });
});
