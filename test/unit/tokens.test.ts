import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.ts';
import { authenticate, bearerToken, newToken, parseTokens, sha256 } from '../../src/auth/tokens.ts';

const file = 'tokens.yaml';

describe('tokens', () => {
  it('grants a new token through the line it prints, and only that token', () => {
    const ci = newToken('ci', 'operator');
    const viewer = newToken('grafana', 'viewer');
    expect(ci.token).toMatch(/^berth_[\w-]{43}$/);
    const entries = parseTokens(`tokens:\n${ci.line}\n${viewer.line}\n`, file);
    expect(authenticate(entries, ci.token)).toMatchObject({ name: 'ci', role: 'operator' });
    expect(authenticate(entries, viewer.token)).toMatchObject({ name: 'grafana', role: 'viewer' });
    expect(authenticate(entries, `${ci.token}x`)).toBeUndefined();
    expect(authenticate(entries, '')).toBeUndefined();
    expect(authenticate(entries, undefined)).toBeUndefined();
    expect(newToken('ci', 'operator').token).not.toBe(ci.token);
  });

  it('stores only the SHA-256 of a token', () => {
    expect(sha256('secret').toString('hex')).toBe('2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b');
    expect(newToken('ci', 'viewer').line).toMatch(/^ {2}- \{ name: ci, role: viewer, sha256: [0-9a-f]{64} \}$/);
  });

  it('reports every problem of a tokens file with its line and key', () => {
    const text = `tokens:
  - { name: ci, role: admin, sha256: ${'a'.repeat(64)} }
  - name: bot
    role: viewer
    sha256: not-hex
    colour: red
  - { name: ci, role: viewer, sha256: ${'b'.repeat(64)} }
`;
    expect(() => parseTokens(text, file)).toThrow(ConfigError);
    try {
      parseTokens(text, file);
    } catch (error) {
      const lines = (error as Error).message.split('\n');
      expect(lines).toContain('tokens.yaml:2:23 tokens.0.role: expected one of viewer, operator');
      expect(lines).toContain('tokens.yaml:5:13 tokens.1.sha256: expected the SHA-256 of the token as 64 lowercase hex characters (npm run token prints it)');
      expect(lines).toContain('tokens.yaml:6:5 tokens.1.colour: unknown key "colour"; expected one of name, role, sha256');
    }
  });

  it('refuses two tokens of one name', () => {
    const text = `tokens:\n  - { name: ci, role: viewer, sha256: ${'a'.repeat(64)} }\n  - { name: ci, role: operator, sha256: ${'b'.repeat(64)} }\n`;
    expect(() => parseTokens(text, file)).toThrow('tokens.yaml:3:13 tokens.1.name: duplicate token name "ci"');
  });

  it('refuses a name the audit trail gives acts no token made', () => {
    const text = `tokens:\n  - { name: berth, role: operator, sha256: ${'d'.repeat(64)} }\n`;
    expect(() => parseTokens(text, file)).toThrow('tokens.yaml:2:13 tokens.0.name: expected a name of 1 to 64 letters, digits, _ . @ or -, and none of anonymous, berth, file, SIGHUP');
  });

  it('refuses one token listed twice, whatever its names and roles', () => {
    const text = `tokens:\n  - { name: a, role: viewer, sha256: ${'c'.repeat(64)} }\n  - { name: b, role: operator, sha256: ${'c'.repeat(64)} }\n`;
    expect(() => parseTokens(text, file)).toThrow('tokens.yaml:3:40 tokens.1.sha256: the same token is listed twice');
  });

  it('reports YAML syntax and a missing list', () => {
    expect(() => parseTokens('tokens: [\n', file)).toThrow(/^tokens\.yaml:\d+:\d+ /);
    expect(() => parseTokens('users: []\n', file)).toThrow(/tokens/);
  });

  it('reads a bearer token from an Authorization header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken(null)).toBeUndefined();
  });
});
