import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort } from './harness.ts';

const run = promisify(execFile);

/**
 * An OpenSSH server of a test's own on 127.0.0.1, through which `docker system dial-stdio` reaches this
 * machine's engine, as `docker -H ssh://…` reaches a remote one; with an ssh agent that holds the one key
 * it accepts.
 */
export interface SshServer {
  /** ssh://root@127.0.0.1:<port> */
  host: string;
  /** SSH_AUTH_SOCK of the agent that holds the client key. */
  agentSocket: string;
  /** A known_hosts that lists the server's key, and one that lists another key for the same address. */
  knownHosts: string;
  strangerKnownHosts: string;
  dispose(): Promise<void>;
}

export async function startSshServer(): Promise<SshServer> {
  const root = await mkdtemp('/tmp/berth-ssh-');
  const at = (file: string) => join(root, file);
  const processes: ChildProcess[] = [];
  const dispose = async () => {
    const running = processes.filter((child) => child.exitCode === null && child.signalCode === null);
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(running.map((child) => once(child, 'exit')));
    await rm(root, { recursive: true, force: true });
  };
  try {
    const port = await freePort();
    const keygen = (file: string) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', at(file)]);
    await Promise.all([keygen('host_key'), keygen('other_host_key'), keygen('client_key')]);
    await writeFile(at('authorized_keys'), await readFile(at('client_key.pub')));
    const publicKey = async (file: string) => (await readFile(at(file), 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(at('known_hosts'), `[127.0.0.1]:${port} ${await publicKey('host_key.pub')}\n`);
    await writeFile(at('stranger_known_hosts'), `[127.0.0.1]:${port} ${await publicKey('other_host_key.pub')}\n`);
    // Privilege separation wants its folder whether or not a system sshd ever ran here.
    await mkdir('/run/sshd', { recursive: true });
    await writeFile(
      at('sshd_config'),
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${at('host_key')}`,
        `PidFile ${at('sshd.pid')}`,
        `AuthorizedKeysFile ${at('authorized_keys')}`,
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'StrictModes no',
        '',
      ].join('\n'),
    );
    const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', at('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    processes.push(sshd);
    let log = '';
    sshd.stderr.on('data', (chunk: Buffer) => (log += chunk));
    const agentSocket = at('agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    processes.push(agent);
    const answers = () =>
      new Promise<boolean>((resolve) => {
        const socket = createConnection(port, '127.0.0.1');
        socket.once('connect', () => resolve(true)).once('error', () => resolve(false));
        socket.once('connect', () => socket.destroy());
      });
    await untilListening(answers, () => `sshd did not listen on ${port}: ${log}`);
    await untilListening(async () => run('ssh-add', [at('client_key')], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket } }).then(() => true, () => false), () => 'ssh-agent did not take the client key');
    return { host: `ssh://root@127.0.0.1:${port}`, agentSocket, knownHosts: at('known_hosts'), strangerKnownHosts: at('stranger_known_hosts'), dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

async function untilListening(ready: () => Promise<boolean>, failure: () => string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (await ready()) return;
    await sleep(50);
  }
  throw new Error(failure());
}
