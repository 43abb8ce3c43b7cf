import type { Logger } from '../core/log.js';
import type { WorkerInfo } from '../core/wire/sealer.js';
import type { WorkerThreadInfo } from '../core/wire/workerControl.js';
import type { ManagerClient } from './managerClient.js';

/** The thread summary a ping carries (damocles' counting: Idle threads count in neither column). */
export function summarize(threads: WorkerThreadInfo[]): WorkerInfo['Summary'] {
  const count = (f: (t: WorkerThreadInfo) => boolean) => threads.filter(f).length;
  return {
    Threads: threads.length,
    Empty: count((t) => t.job_id === null),
    Paused: count((t) => t.thread_state.state === 'Paused'),
    Running: count((t) => t.thread_state.state === 'Running'),
    Waiting: count((t) => t.thread_state.state === 'Waiting'),
    Errors: count((t) => t.last_error !== null),
    Draining: count((t) => t.draining === true),
  };
}

/**
 * Pings the manager now and every `intervalMs`; failures are logged, never fatal. `outcome` hears of each
 * ping's result (the metrics).
 */
export function startPing(
  manager: ManagerClient,
  info: () => Promise<Omit<WorkerInfo, 'Summary'> & { threads: WorkerThreadInfo[] }>,
  intervalMs: number,
  log: Logger,
  outcome?: (ok: boolean) => void,
): () => void {
  const once = (): void => {
    info()
      .then(({ threads, ...rest }) => manager.ping({ ...rest, Summary: summarize(threads) }))
      .then(
        () => outcome?.(true),
        (err: unknown) => {
          outcome?.(false);
          log.warn({ err: (err as Error).message }, 'ping to the manager failed');
        },
      );
  };
  once();
  const timer = setInterval(once, intervalMs);
  return () => clearInterval(timer);
}
