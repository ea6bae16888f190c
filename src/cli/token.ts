// npm run token -- --name ci --role operator: prints a new token, and the line that grants it for
// the tokens file (BERTH_TOKENS_FILE). berth keeps only the token's SHA-256; the token is shown once.
import { parseArgs } from 'node:util';
import { newToken, roles, tokenName, type Role } from '../auth/tokens.ts';

const usage = `usage: npm run token -- --name <who> --role <${roles.join('|')}>`;

try {
  const { values } = parseArgs({ options: { name: { type: 'string' }, role: { type: 'string', default: 'viewer' } }, strict: true });
  if (!values.name || !tokenName.test(values.name)) throw new Error(`--name: ${tokenName.rule}`);
  if (!roles.includes(values.role as Role)) throw new Error(`--role: one of ${roles.join(', ')}`);
  const { token, line } = newToken(values.name, values.role as Role);
  process.stdout.write(`token (give it to ${values.name}; it is not stored anywhere):\n${token}\n\nline for the tokens file, under "tokens:":\n${line}\n`);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${usage}\n`);
  process.exitCode = 2;
}
