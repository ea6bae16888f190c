import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConfigIssue } from './config-error.ts';
import type { BerthConfig, EngineTls } from './module-spec.ts';
import type { Locator } from '../lib/yaml-positions.ts';

/**
 * Each engine's TLS files, checked when docker.yaml is read rather than at the first request: each is
 * readable PEM, the certificates are within their validity, and the key is the client certificate's.
 * A mistake here would otherwise show only as an engine that never answers.
 */
export function tlsIssues(config: BerthConfig, located: Locator, now = new Date()): ConfigIssue[] {
  return config.engines.flatMap(({ name, tls }) =>
    tls ? checkTls(tls, now).map(([field, message]) => located.path(['engines', name, 'tls', field], message)) : [],
  );
}

type Problem = [field: keyof EngineTls, message: string];

function checkTls(tls: EngineTls, now: Date): Problem[] {
  const problems: Problem[] = [];
  const read = <T>(field: keyof EngineTls, what: string, parse: (pem: Buffer) => T): T | undefined => {
    let pem: Buffer;
    try {
      pem = readFileSync(tls[field]);
    } catch (error) {
      problems.push([field, `cannot read ${tls[field]}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message}`]);
      return undefined;
    }
    try {
      return parse(pem);
    } catch {
      problems.push([field, `${tls[field]} is not ${what} in PEM form`]);
      return undefined;
    }
  };
  const ca = read('ca', 'a certificate', (pem) => new X509Certificate(pem));
  const cert = read('cert', 'a certificate', (pem) => new X509Certificate(pem));
  const key = read('key', 'a private key', (pem): KeyObject => createPrivateKey(pem));
  if (ca) problems.push(...validity('ca', ca, tls.ca, now));
  if (cert) problems.push(...validity('cert', cert, tls.cert, now));
  if (cert && key && !cert.checkPrivateKey(key)) problems.push(['key', `${tls.key} is not the private key of the certificate ${tls.cert}`]);
  return problems;
}

function validity(field: keyof EngineTls, certificate: X509Certificate, file: string, now: Date): Problem[] {
  if (new Date(certificate.validTo) < now) return [[field, `the certificate in ${file} expired on ${new Date(certificate.validTo).toISOString()}`]];
  if (new Date(certificate.validFrom) > now) return [[field, `the certificate in ${file} is valid only from ${new Date(certificate.validFrom).toISOString()}`]];
  return [];
}
