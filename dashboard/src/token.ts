// The token is entered once and kept for the tab (sessionStorage): a reload keeps it, a new tab asks again.
const key = 'berth.token';

export function savedToken(): string {
  return sessionStorage.getItem(key) ?? '';
}

export function saveToken(token: string): void {
  if (token) sessionStorage.setItem(key, token);
  else sessionStorage.removeItem(key);
}
