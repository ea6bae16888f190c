import { describe, expect, it } from 'vitest';
import { engineStatusCode, redactor, toBerthError } from '../../src/engine/engine-error.ts';
import { BerthError } from '../../src/errors.ts';

/** An error shaped as dockerode throws it for an engine answer. */
const engineAnswer = (statusCode: number, message: string) => Object.assign(new Error(`(HTTP code ${statusCode}) ${message}`), { statusCode, json: { message } });

describe('engine errors', () => {
  const redact = redactor(['hunter2-password', 'abc', 'tok3n']);

  it('scrubs every secret of 4 characters or more from the message passed on, and keeps no raw cause', () => {
    const error = toBerthError(engineAnswer(400, 'invalid env PASSWORD=hunter2-password and KEY=tok3n (abc)'), 'create container', redact) as BerthError;
    expect(error.code).toBe('ENGINE_ERROR');
    expect(error.message).toBe('the Docker engine refused to create container: invalid env PASSWORD=[secret] and KEY=[secret] (abc)');
    expect(JSON.stringify({ message: error.message, cause: String(error.cause) })).not.toMatch(/hunter2|tok3n/);
    expect(error.cause).toMatchObject({ statusCode: 400 });
  });

  it('scrubs overlapping secrets without leaving a fragment', () => {
    expect(redactor(['pass', 'password1'])('password1 pass')).toBe('[secret] [secret]');
    expect(redactor(['abcd', 'cdefgh'])('x abcdefgh y')).toBe('x [secret] y');
  });

  it('scrubs a secret as the engine quotes it in JSON, with escaped quotes and backslashes', () => {
    expect(redactor(['pa"ss\\word'])('env "KEY=pa\\"ss\\\\word" refused')).toBe('env "KEY=[secret]" refused');
  });

  it("reads Podman's 500 for a change the container's state forbids as Docker's 409, and other 500s as they are", () => {
    const paused = engineAnswer(500, 'container 2efe must be in Created or Stopped state to be started: container state improper');
    expect(engineStatusCode(toBerthError(paused, 'start container 2efe'))).toBe(409);
    expect(engineStatusCode(toBerthError(engineAnswer(409, 'cannot start a paused container, try unpause instead'), 'start container 2efe'))).toBe(409);
    expect(engineStatusCode(toBerthError(engineAnswer(500, 'driver failed programming external connectivity'), 'start container 2efe'))).toBe(500);
  });

  it('tells an unreachable engine from a refusal', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' });
    expect(toBerthError(refused, 'list containers')).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
    expect(toBerthError(engineAnswer(500, 'boom'), 'start container')).toMatchObject({ code: 'ENGINE_ERROR' });
  });

  it.each([
    ['too many open files', 'EMFILE', 'connect EMFILE /run/secret-folder/docker.sock'],
    ['a TLS certificate refused', 'CERT_HAS_EXPIRED', 'certificate has expired for engine.internal'],
    ['an unreachable network', 'ENETUNREACH', 'connect ENETUNREACH 10.1.2.3:2376'],
  ])('answers %s as ENGINE_UNAVAILABLE with its code, never its message', (_, code, message) => {
    const error = toBerthError(Object.assign(new Error(message), { code }), 'list containers');
    expect(error).toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: `the Docker engine cannot be reached (${code}) while trying to list containers` });
  });

  it('leaves a failure that is neither the engine nor the connection as it is, for GraphQL to mask', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'Id')");
    expect(toBerthError(bug, 'inspect container')).toBe(bug);
    expect(toBerthError(bug, 'inspect container')).not.toBeInstanceOf(BerthError);
  });
});
