import { useEffect, useState } from 'preact/hooks';
import { request } from './api.ts';
import { Dashboard } from './dashboard.tsx';
import { whoAmI, type Principal } from './operations.ts';
import { TokenForm } from './token-form.tsx';
import { saveToken, savedToken } from './token.ts';

export type Role = 'operator' | 'viewer';

type Access =
  | { state: 'checking' }
  | { state: 'token-needed'; message: string }
  | { state: 'refused'; message: string }
  | { state: 'ready'; role: Role; name: string };

/** Asks berth who the token is (`principal`): 401 asks for a token (none is asked while authentication is off). */
async function checkAccess(token: string): Promise<Access> {
  const answer = await request<{ principal: Principal }>(token, whoAmI);
  const error = answer.errors?.[0];
  if (answer.status === 401) {
    return { state: 'token-needed', message: token ? `berth refused this token (${error?.code ?? 'UNAUTHENTICATED'}): ${error?.message ?? ''}` : '' };
  }
  if (error || !answer.data) return { state: 'refused', message: `${error?.code ?? 'ERROR'}: ${error?.message ?? 'no answer'}` };
  const { name, role } = answer.data.principal;
  return { state: 'ready', role: role === 'OPERATOR' ? 'operator' : 'viewer', name };
}

export function App() {
  const [token, setToken] = useState(savedToken);
  const [access, setAccess] = useState<Access>({ state: 'checking' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setAccess({ state: 'checking' });
    void checkAccess(token).then((checked) => current && setAccess(checked));
    return () => {
      current = false;
    };
  }, [token, attempt]);

  const changeToken = (next: string) => {
    saveToken(next);
    setToken(next);
  };

  return (
    <>
      <header class="top">
        <h1>berth</h1>
        {access.state === 'ready' && <span class="role">{token ? `${access.name} (${access.role})` : 'authentication off'}</span>}
        {token && (
          <button type="button" onClick={() => changeToken('')}>
            Forget token
          </button>
        )}
        <a href="/graphql">GraphiQL</a>
      </header>
      <main>
        {access.state === 'checking' && <p class="note">Connecting to berth…</p>}
        {access.state === 'token-needed' && <TokenForm message={access.message} onToken={changeToken} />}
        {access.state === 'refused' && (
          <div class="error" role="alert">
            <p>{access.message}</p>
            <button type="button" onClick={() => setAttempt((n) => n + 1)}>
              Try again
            </button>
          </div>
        )}
        {access.state === 'ready' && (
          <Dashboard
            token={token}
            role={access.role}
            onRefused={(code) => setAccess(code === 'UNAUTHENTICATED' ? { state: 'token-needed', message: 'berth no longer accepts this token (UNAUTHENTICATED)' } : { state: 'ready', role: 'viewer', name: access.name })}
          />
        )}
      </main>
    </>
  );
}
