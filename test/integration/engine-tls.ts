import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { EngineTls } from '../../src/config/module-spec.ts';

const run = promisify(execFile);

/**
 * A TCP address for an engine in a network namespace of its own, reached from this machine over a veth
 * pair: a /30 of 10.200.0.0/16 picked at random (the host end .1, the engine .2), and interface names
 * unique to it.
 */
export interface EngineLink {
  hostAddress: string;
  engineAddress: string;
  hostInterface: string;
  engineInterface: string;
}

export function pickLink(): EngineLink {
  const block = Math.floor(Math.random() * 16_384) * 4;
  const base = `10.200.${block >> 8}.`;
  const tag = Math.random().toString(36).slice(2, 8);
  return { hostAddress: `${base}${(block & 255) + 1}`, engineAddress: `${base}${(block & 255) + 2}`, hostInterface: `bh${tag}`, engineInterface: `be${tag}` };
}

/**
 * The inside of the engine's namespace, run by its shell before dockerd: loopback up (for ports published on
 * 127.0.0.1 there) and, with a link, its end configured once the host has moved it in.
 */
export function namespaceSetup(link: EngineLink | undefined): string {
  const up = 'ip link set lo up';
  if (!link) return up;
  const { engineInterface: name, engineAddress } = link;
  return `${up} && until ip link show ${name} >/dev/null 2>&1; do sleep 0.05; done && ip addr add ${engineAddress}/30 dev ${name} && ip link set ${name} up`;
}

/** The host end: the pair made, the engine's end moved into the namespace of the process `pid`. */
export async function connectLink(link: EngineLink, pid: number): Promise<void> {
  await run('ip', ['link', 'add', link.hostInterface, 'type', 'veth', 'peer', 'name', link.engineInterface]);
  await run('ip', ['link', 'set', link.engineInterface, 'netns', String(pid)]);
  await run('ip', ['addr', 'add', `${link.hostAddress}/30`, 'dev', link.hostInterface]);
  await run('ip', ['link', 'set', link.hostInterface, 'up']);
}

/** Gone with the namespace, normally; removed here after a failed start. */
export async function removeLink(link: EngineLink): Promise<void> {
  await run('ip', ['link', 'del', link.hostInterface]).catch(() => {});
}

export interface EngineCertificates {
  /** What the engine is started with: --tlscacert, --tlscert, --tlskey. */
  server: EngineTls;
  /** What berth signs in with. */
  client: EngineTls;
  /** A client certificate and key that another CA signed: the engine refuses it. */
  stranger: EngineTls;
}

/** A CA, the engine's certificate for its address, and client certificates, made with openssl as Docker's guide does. */
export async function makeCertificates(folder: string, engineAddress: string): Promise<EngineCertificates> {
  await mkdir(folder, { recursive: true });
  const openssl = (...args: string[]) => run('openssl', args, { cwd: folder });
  const at = (file: string) => join(folder, file);
  const authority = async (name: string) => openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`);
  const signed = async (name: string, ca: string, extensions: string) => {
    await writeFile(at(`${name}.ext`), extensions);
    await openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    await openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}-key.pem`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  await Promise.all([authority('ca'), authority('other-ca')]);
  await Promise.all([
    signed('server', 'ca', `subjectAltName=IP:${engineAddress}\nextendedKeyUsage=serverAuth\n`),
    signed('client', 'ca', 'extendedKeyUsage=clientAuth\n'),
    signed('stranger', 'other-ca', 'extendedKeyUsage=clientAuth\n'),
  ]);
  const pair = (name: string, ca: string): EngineTls => ({ ca: at(`${ca}.pem`), cert: at(`${name}.pem`), key: at(`${name}-key.pem`) });
  return { server: pair('server', 'ca'), client: pair('client', 'ca'), stranger: pair('stranger', 'ca') };
}
