import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where OpenSSH looks for the keys it trusts, the user's file first. */
export function knownHostsFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.BERTH_SSH_KNOWN_HOSTS ? [env.BERTH_SSH_KNOWN_HOSTS] : [join(homedir(), '.ssh', 'known_hosts'), '/etc/ssh/ssh_known_hosts'];
}

/**
 * ssh2's hostVerifier for an engine reached over ssh://, as OpenSSH checks a server: its key (the raw blob
 * the server offers) must be one known_hosts lists for that host, written `host`, `[host]:port` for a port
 * other than 22, or hashed (`|1|salt|hash`, as `ssh-keyscan -H` writes). ssh2 alone trusts any key, and a
 * server that posed as the engine would be handed every module's environment.
 */
export function knownHostVerifier(host: string, port: number, files: readonly string[] = knownHostsFiles()): (key: Buffer) => boolean {
  const name = port === 22 ? host : `[${host}]:${port}`;
  return (key) => {
    const offered = key.toString('base64');
    return files.some((file) => trustedKeys(file, name).includes(offered));
  };
}

/** The base64 keys a known_hosts file trusts for the name; none when it cannot be read. Revoked (@revoked) and CA (@cert-authority) lines are not trust in a host key. */
function trustedKeys(file: string, name: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    const [patterns, , key] = line.trim().split(/\s+/);
    if (!patterns || !key || patterns.startsWith('#') || patterns.startsWith('@')) return [];
    return patterns.split(',').some((pattern) => namesHost(pattern, name)) ? [key] : [];
  });
}

function namesHost(pattern: string, name: string): boolean {
  if (!pattern.startsWith('|1|')) return pattern.toLowerCase() === name.toLowerCase();
  const [salt = '', hash = ''] = pattern.slice(3).split('|');
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}
