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

export const WORKER_CONTROL_PORT = 17890;
export const WorkerControlMethods = {
  list: 'VenusWorker.WorkerList',
  pause: 'VenusWorker.WorkerPause',
  resume: 'VenusWorker.WorkerResume',
  drain: 'VenusWorker.WorkerDrain',
  version: 'VenusWorker.WorkerVersion',
} as const;
