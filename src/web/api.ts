/**
 * The dashboard's one way to the manager: JSON-RPC POSTs to `/rpc/v0` on the page's own origin, with the
 * operator's token as `Authorization: Bearer` (never in a URL, where it would land in history and logs).
 * The token lives in sessionStorage: it is gone when the tab closes, and other tabs and sites cannot read it.
 */

const TOKEN_KEY = 'sealfleet.token';

export const loadToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const saveToken = (token: string): void => sessionStorage.setItem(TOKEN_KEY, token);
export const forgetToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

/** A refusal or failure, with the manager's own words. `auth` marks a token the manager does not accept. */
export class RpcFailure extends Error {
  constructor(
    message: string,
    readonly code: number | null,
    readonly auth: boolean,
  ) {
    super(message);
  }
}

/** Listeners told when the manager refuses the token itself (expired, rotated secret): the page goes back to login. */
const onRefused = new Set<() => void>();
export const whenTokenRefused = (fn: () => void): (() => void) => {
  onRefused.add(fn);
  return () => onRefused.delete(fn);
};

let nextId = 1;

export async function rpc<T>(method: string, params: unknown[] = [], token: string | null = loadToken()): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/rpc/v0', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (err) {
    throw new RpcFailure(`the manager is unreachable: ${(err as Error).message}`, null, false);
  }
  const body = (await res.json().catch(() => null)) as { result?: T; error?: { code: number; message: string } } | null;
  if (res.status === 401) {
    for (const fn of onRefused) fn();
    throw new RpcFailure(body?.error?.message ?? 'token refused', body?.error?.code ?? null, true);
  }
  if (!body) throw new RpcFailure(`the manager answered HTTP ${res.status} without a JSON-RPC reply`, null, false);
  if (body.error) throw new RpcFailure(body.error.message, body.error.code, false);
  return body.result as T;
}
