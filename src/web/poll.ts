import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { rpc } from './api.js';

/**
 * Live updates by polling: each view asks the manager for its whole snapshot every POLL_MS. Chosen over
 * server-sent events because every view is an aggregate of the database (which several managers may share
 * on PostgreSQL, so no single manager sees every change to push), because the bearer token then rides on
 * ordinary requests (an EventSource cannot send an Authorization header), and because it passes any proxy.
 * A hidden tab stops asking; a call is never started while the previous one is still out.
 */
export const POLL_MS = 2000;

export interface Polled<T> {
  data: T | null;
  error: string | null;
  /** Asks again now (after an action, so its effect shows at once). */
  refresh: () => void;
}

export function usePoll<T>(method: string, params: unknown[]): Polled<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const key = JSON.stringify([method, params]);
  const busy = useRef(false);
  const latest = useRef(key);
  latest.current = key;

  const load = useCallback(async () => {
    if (busy.current || document.visibilityState === 'hidden') return;
    busy.current = true;
    const asked = key;
    try {
      const result = await rpc<T>(method, params);
      if (latest.current === asked) {
        setData(result);
        setError(null);
      }
    } catch (err) {
      if (latest.current === asked) setError((err as Error).message);
    } finally {
      busy.current = false;
    }
  }, [key]);

  useEffect(() => {
    setData(null);
    setError(null);
    void load();
    const timer = setInterval(() => void load(), POLL_MS);
    const onVisible = () => void load();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [load]);

  return { data, error, refresh: () => void load() };
}
