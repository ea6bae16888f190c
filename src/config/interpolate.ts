export type Environment = Readonly<Record<string, string | undefined>>;

export type Interpolation =
  | { ok: true; value: string; variables: string[] }
  | { ok: false; message: string };

const substitution = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?$/s;

/**
 * Expands `${VAR}`, `${VAR:-default}` (default when unset or empty) and `${VAR-default}`
 * (default when unset) the way Compose does; `$$` stands for a literal `$`.
 */
export function interpolate(text: string, env: Environment): Interpolation {
  let value = '';
  const variables: string[] = [];
  let at = 0;
  while (at < text.length) {
    const dollar = text.indexOf('$', at);
    if (dollar === -1 || dollar === text.length - 1) {
      value += text.slice(at);
      break;
    }
    value += text.slice(at, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      value += '$';
      at = dollar + 2;
      continue;
    }
    if (next !== '{') {
      value += '$';
      at = dollar + 1;
      continue;
    }
    const close = text.indexOf('}', dollar + 2);
    const body = close === -1 ? undefined : substitution.exec(text.slice(dollar + 2, close));
    if (!body) {
      return { ok: false, message: `invalid substitution "${text.slice(dollar, close === -1 ? undefined : close + 1)}": expected \${NAME} or \${NAME:-default}` };
    }
    const [, name, operator, fallback] = body as unknown as [string, string, string | undefined, string | undefined];
    const set = env[name];
    const useDefault = operator === ':-' ? !set : set === undefined;
    if (useDefault && operator === undefined) {
      return { ok: false, message: `environment variable ${name} is not set and has no default (write \${${name}:-default} to give one)` };
    }
    value += useDefault ? (fallback ?? '') : (set ?? '');
    variables.push(name);
    at = close + 1;
  }
  return { ok: true, value, variables };
}
