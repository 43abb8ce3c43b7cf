import { z } from 'zod';

/**
 * The worker control API (`VenusWorker.*`), called by the worker CLI and proxied by the manager CLI.
 * `WorkerInfo` keeps damocles' snake_case keys so either side can be swapped.
 */
export const ThreadState = z.object({
  state: z.enum(['Idle', 'Running', 'Waiting', 'Paused']),
  elapsed: z.number().int().nonnegative().optional(),
  proc: z.string().nullable().optional(),
});

export const WorkerThreadInfo = z.looseObject({
  location: z.string(),
  plan: z.string(),
  job_id: z.string().nullable(),
  index: z.number().int().nonnegative(),
  thread_state: ThreadState,
  job_state: z.string(),
  job_stage: z.string().nullable(),
  last_error: z.string().nullable(),
});
export type WorkerThreadInfo = z.infer<typeof WorkerThreadInfo>;

/**
 * One row of a sealing thread's own event log (`VenusWorker.WorkerLog`, a sealfleet addition): the
 * transition, and how long its step took (`took_ms`, since the thread's previous row; null for the first
 * row after a start) and spent in processors (`processor_ms`, null where no step ran).
 */
export const ThreadEvent = z.object({
  at: z.number(),
  sector: z.string().nullable(),
  from: z.string(),
  event: z.string(),
  to: z.string(),
  level: z.string().nullable(),
  error: z.string().nullable(),
  took_ms: z.number().nullable(),
  processor_ms: z.number().nullable(),
});
export type ThreadEvent = z.infer<typeof ThreadEvent>;

/** How many rows of a thread's log one WorkerLog call returns at most. */
export const THREAD_LOG_MAX = 10_000;
/**
 * Longest error text of one WorkerLog row (longer ones are cut in the middle): a full log then stays
 * within THREAD_LOG_MAX × 2 KiB, and the whole error is still in the thread's `last_error` and the
 * manager's sector log.
 */
export const THREAD_LOG_ERROR_MAX = 2048;

export const WORKER_CONTROL_PORT = 17890;
export const WorkerControlMethods = {
  list: 'VenusWorker.WorkerList',
  pause: 'VenusWorker.WorkerPause',
  resume: 'VenusWorker.WorkerResume',
  drain: 'VenusWorker.WorkerDrain',
  log: 'VenusWorker.WorkerLog',
  version: 'VenusWorker.WorkerVersion',
} as const;
