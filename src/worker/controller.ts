import type { ThreadEvent, WorkerThreadInfo } from '../core/wire/workerControl.js';

/**
 * What the control API (and so `sealfleet-worker worker …` and the manager's `util worker …`) can do to the
 * sealing threads. Errors thrown carry a message for the operator (bad index, invalid state, not paused).
 */
export interface ThreadController {
  list(): WorkerThreadInfo[];
  /** Asks the thread to pause; a running step finishes and is persisted first. False if already paused. */
  pause(index: number): boolean;
  /** Resumes a paused thread, optionally in another state of its plan; refuses anything else. */
  resume(index: number, state: string | null): boolean;
  /** The thread (or every thread) finishes its current sector and takes no new one. Returns how many. */
  drain(index: number | null): number;
  /** The last `limit` rows of the thread's event log, oldest first. */
  log(index: number, limit: number): ThreadEvent[];
}
