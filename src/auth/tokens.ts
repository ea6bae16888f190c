import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config/config-error.ts';
import { Locator } from '../lib/yaml-positions.ts';

export const roles = ['viewer', 'operator'] as const;
/** viewer: queries and subscriptions; operator: those and every mutation. */
export type Role = (typeof roles)[number];

/** Who made a request: a token's name and role, or `anonymous` while authentication is off. */
export interface Principal {
  name: string;
  role: Role;
  /** The token's SHA-256, to tell later whether the token is still granted. Never served. */
  digest?: Buffer;
}

/**
 * A token's name: shown in logs, so short and plain, and none of the names the audit trail gives acts no
 * token made (a token named `berth` would pass for berth's own applies).
 */
export const tokenName = {
  pattern: /^[\w.@-]{1,64}$/,
  reserved: new Set(['anonymous', 'berth', 'file', 'SIGHUP']),
  rule: '1 to 64 letters, digits, _ . @ or -, and none of anonymous, berth, file, SIGHUP',
  test(name: string): boolean {
    return this.pattern.test(name) && !this.reserved.has(name);
  },
} as const;

const tokensFileSchema = z.strictObject({
  tokens: z.array(
    z.strictObject({
      name: z.string().refine((name) => tokenName.test(name), `expected a name of ${tokenName.rule}`),
      role: z.enum(roles, { error: `expected one of ${roles.join(', ')}` }),
      sha256: z
        .string()
        .regex(/^[0-9a-f]{64}$/, 'expected the SHA-256 of the token as 64 lowercase hex characters (npm run token prints it)'),
    }),
  ),
});

export interface TokenEntry extends Principal {
  digest: Buffer;
}

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** A new random token (256 bits) and the line that grants it, for the tokens file. */
export function newToken(name: string, role: Role): { token: string; line: string } {
  const token = `berth_${randomBytes(32).toString('base64url')}`;
  return { token, line: `  - { name: ${name}, role: ${role}, sha256: ${sha256(token).toString('hex')} }` };
}

/** Parses a tokens file; throws a ConfigError naming the line and key of every problem. */
export function parseTokens(text: string, file: string): TokenEntry[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const located = new Locator(file, doc, lineCounter, (path) => (path.length === 0 ? ['tokens'] : path.length === 2 ? ['name', 'role', 'sha256'] : undefined));
  if (doc.errors.length > 0) throw new ConfigError(doc.errors.map((error) => located.at(error.pos[0], [], error.message.split('\n')[0]!)));
  const parsed = tokensFileSchema.safeParse(doc.toJS());
  if (!parsed.success) throw new ConfigError(parsed.error.issues.flatMap((issue) => located.zodIssue(issue)));
  const issues = parsed.data.tokens.flatMap((entry, index) => [
    ...(parsed.data.tokens.findIndex((other) => other.name === entry.name) < index ? [located.path(['tokens', index, 'name'], `duplicate token name "${entry.name}"`)] : []),
    // One token under two entries would get whichever role came first: refuse the ambiguity.
    ...(parsed.data.tokens.findIndex((other) => other.sha256 === entry.sha256) < index ? [located.path(['tokens', index, 'sha256'], 'the same token is listed twice')] : []),
  ]);
  if (issues.length > 0) throw new ConfigError(issues);
  return parsed.data.tokens.map(({ name, role, sha256: hex }) => ({ name, role, digest: Buffer.from(hex, 'hex') }));
}

export async function loadTokens(file: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ConfigError([{ file, line: 1, column: 1, path: '', message: `cannot read the tokens file: ${reason}` }]);
  }
  return parseTokens(text, file);
}

/**
 * The principal a presented token belongs to, if any. Every entry is compared, in constant time,
 * whatever matches: neither the time taken nor an early exit tells how close a guess came.
 */
export function authenticate(entries: readonly TokenEntry[], token: string | undefined): Principal | undefined {
  if (!token) return undefined;
  const presented = sha256(token);
  let found: TokenEntry | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(presented, entry.digest) && !found) found = entry;
  }
  return found && { name: found.name, role: found.role, digest: found.digest };
}

/** The token of an `Authorization: Bearer <token>` value. */
/** Whether the entries still grant a principal's token, with the same role. */
export function stillGranted(entries: readonly TokenEntry[], principal: Principal): boolean {
  return principal.digest !== undefined && entries.some((entry) => entry.role === principal.role && entry.digest.equals(principal.digest!));
}

export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
