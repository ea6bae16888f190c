import { describe, expect, it } from 'vitest';
import { interpolate } from '../../src/config/interpolate.ts';

describe('interpolate', () => {
  it('substitutes ${VAR} and lists the variables it used', () => {
    expect(interpolate('${HOST}:${PORT}/x', { HOST: 'db', PORT: '5432' })).toEqual({ ok: true, value: 'db:5432/x', variables: ['HOST', 'PORT'] });
  });

  it.each([
    ['unset', {}, '/models'],
    ['empty', { DIR: '' }, '/models'],
    ['set', { DIR: '/data' }, '/data'],
  ])('${VAR:-default} with the variable %s gives %s', (_, env, expected) => {
    expect(interpolate('${DIR:-/models}', env)).toMatchObject({ ok: true, value: expected });
  });

  it.each([
    ['unset', {}, '/models'],
    ['empty', { DIR: '' }, ''],
    ['set', { DIR: '/data' }, '/data'],
  ])('${VAR-default} with the variable %s gives %j', (_, env, expected) => {
    expect(interpolate('${DIR-/models}', env)).toMatchObject({ ok: true, value: expected });
  });

  it('keeps everything after the first :- as the default', () => {
    expect(interpolate('${URL:-http://x:-y}', {})).toMatchObject({ ok: true, value: 'http://x:-y' });
  });

  it('turns $$ into a literal $ without substituting', () => {
    expect(interpolate('$$HOME $${HOME}', { HOME: '/root' })).toEqual({ ok: true, value: '$HOME ${HOME}', variables: [] });
  });

  it.each(['cost $5', 'ends with $', '$HOME'])('leaves a lone $ in %j as is', (text) => {
    expect(interpolate(text, { HOME: '/root' })).toEqual({ ok: true, value: text, variables: [] });
  });

  it.each([
    ['${1X}', '"${1X}"'],
    ['a ${A', '"${A"'],
    ['${}', '"${}"'],
    ['${A:?required}', '"${A:?required}"'],
  ])('rejects the invalid substitution %s', (text, quoted) => {
    const result = interpolate(text, { A: 'x' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toBe(`invalid substitution ${quoted}: expected \${NAME} or \${NAME:-default}`);
  });

  it('rejects an unset variable without default, suggesting one', () => {
    expect(interpolate('key=${API_KEY}', {})).toEqual({
      ok: false,
      message: 'environment variable API_KEY is not set and has no default (write ${API_KEY:-default} to give one)',
    });
  });

  it('accepts a variable set to the empty string', () => {
    expect(interpolate('[${A}]', { A: '' })).toMatchObject({ ok: true, value: '[]' });
  });
});
