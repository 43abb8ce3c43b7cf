import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { DashboardSession } from '../core/wire/dashboard.js';
import { forgetToken, loadToken, rpc, whenTokenRefused } from './api.js';
import { Login } from './pages/Login.js';
import { Overview } from './pages/Overview.js';
import { Pipeline } from './pages/Pipeline.js';
import { Sector } from './pages/Sector.js';
import { Worker } from './pages/Worker.js';
import './style.css';

type Route = { page: 'overview' } | { page: 'pipeline' } | { page: 'sector'; id: string } | { page: 'worker'; name: string };

/** Pages live in the URL's fragment (`#/worker/<name>`): the server serves one page, and links survive reloads. */
function parseRoute(hash: string): Route {
  const [, page = '', arg = ''] = hash.replace(/^#/, '').split('/');
  const value = decodeURIComponent(arg);
  if (page === 'pipeline') return { page: 'pipeline' };
  if (page === 'sector' && value) return { page: 'sector', id: value };
  if (page === 'worker' && value) return { page: 'worker', name: value };
  return { page: 'overview' };
}

function App() {
  const [session, setSession] = useState<DashboardSession | null>(null);
  const [checking, setChecking] = useState(loadToken() !== null);
  const [reason, setReason] = useState<string | null>(null);
  const [route, setRoute] = useState(parseRoute(location.hash));

  useEffect(() => {
    const onHash = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(
    () =>
      whenTokenRefused(() => {
        forgetToken();
        setSession(null);
        setReason('The manager refused the token (expired, or the secret was rotated): log in again.');
      }),
    [],
  );
  // A reload keeps the tab's token: ask the manager what it grants before showing anything.
  useEffect(() => {
    if (!checking) return;
    rpc<DashboardSession>('SealFleet.DashboardSession')
      .then(setSession, (err: Error) => setReason(err.message))
      .finally(() => setChecking(false));
  }, [checking]);

  if (checking) return <p>Checking the token…</p>;
  if (!session) return <Login reason={reason} onLogin={(s) => { setReason(null); setSession(s); }} />;
  const logout = () => {
    forgetToken();
    setSession(null);
  };
  return (
    <>
      <header>
        <strong>sealfleet</strong>
        <nav>
          <a href="#/" class={route.page === 'overview' ? 'current' : ''}>Overview</a>
          <a href="#/pipeline" class={route.page === 'pipeline' ? 'current' : ''}>Pipeline</a>
        </nav>
        <span class="who" data-testid="session">
          token: {session.Perm}{session.Perm === 'read' ? ' (actions are refused)' : ''}
        </span>
        <button type="button" onClick={logout}>Log out</button>
      </header>
      <main>
        {route.page === 'overview' && <Overview />}
        {route.page === 'pipeline' && <Pipeline />}
        {route.page === 'sector' && <Sector key={route.id} id={route.id} />}
        {route.page === 'worker' && <Worker key={route.name} name={route.name} />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
