import { useState } from 'preact/hooks';
import { rpc, saveToken } from '../api.js';
import type { DashboardSession } from '../../core/wire/dashboard.js';

/**
 * Takes a token made by `sealfleet-manager auth create-token` (read: look; admin: act too), checks it with
 * the manager, and keeps it for this tab only.
 */
export function Login(props: { onLogin: (session: DashboardSession) => void; reason: string | null }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    const text = token.trim();
    if (text === '') return setError('paste a token: sealfleet-manager auth create-token --perm read (or admin to act)');
    try {
      const session = await rpc<DashboardSession>('SealFleet.DashboardSession', [], text);
      saveToken(text);
      setToken('');
      props.onLogin(session);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <main class="login">
      <h1>sealfleet</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="off" value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        <button type="submit">Log in</button>
      </form>
      <p class="hint">
        Make one on the manager's host: <code>sealfleet-manager auth create-token --perm read</code> to look, <code>--perm admin</code> to pause,
        resume, drain and abort as well. It is kept in this tab only and sent in a header, never in a URL.
      </p>
      {(error ?? props.reason) && <p class="error" role="alert">{error ?? props.reason}</p>}
    </main>
  );
}
