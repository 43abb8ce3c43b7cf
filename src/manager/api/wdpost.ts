import { z } from 'zod';
import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { callerMethod, method, type Caller, type MethodDef } from '../../core/rpc/server.js';
import { boundedArray, nameString, textString } from '../../core/wire/bounds.js';
import { MAX_JOBS_PER_CALL, WdPoStAllocateSpec, WdPoStJobId, WdPoStOutput } from '../../core/wire/wdpost.js';
import type { WdPoStJobs } from '../proving/wdpostJobs.js';

/** A worker-bound token speaks for its own worker only (as WorkerPing). */
function checkWorker(caller: Caller, worker: string): void {
  if (caller.worker !== null && caller.worker !== worker) {
    throw new RpcError(RPC_CODES.Unauthorized, `this token belongs to worker "${caller.worker}": a call for worker "${worker}" is refused`);
  }
}

/**
 * The worker WindowPoSt job API: `Venus.WdPoSt*` for wdpost threads (write, as the rest of the sealer API), and
 * the operator's `SealFleet.WdPoSt*` (`util worker wdpost list | reset | remove`: listing needs read, changes admin).
 * `WdPoStFinishJob` takes the worker's name as an optional fourth param (ours): with it, a worker that no longer
 * holds the job is refused even when another worker holds it now.
 */
export function wdpostMethods(jobs: WdPoStJobs): Record<string, MethodDef> {
  const w = 'write' as const;
  const venus: Record<string, MethodDef> = {
    WdPoStAllocateJobs: callerMethod(
      [WdPoStAllocateSpec, z.number().int().min(1, 'expected at least 1 job').max(MAX_JOBS_PER_CALL, `expected at most ${MAX_JOBS_PER_CALL} jobs`), nameString],
      (caller, spec, num, worker) => {
        checkWorker(caller, worker);
        return jobs.allocate(spec, num, worker);
      },
      w,
    ),
    WdPoStHeartbeatJobs: callerMethod([boundedArray(WdPoStJobId, MAX_JOBS_PER_CALL), nameString], async (caller, ids, worker) => {
      checkWorker(caller, worker);
      await jobs.heartbeat(ids, worker);
      return null;
    }, w),
    WdPoStFinishJob: callerMethod([WdPoStJobId, WdPoStOutput.nullable(), textString, nameString.optional()], async (caller, id, output, errorReason, worker) => {
      if (worker !== undefined) checkWorker(caller, worker);
      await jobs.finish(id, output, errorReason, worker ?? caller.worker ?? undefined);
      return null;
    }, w),
  };
  const admin: Record<string, MethodDef> = {
    WdPoStJobs: method([], () => jobs.list()),
    WdPoStResetJob: method([WdPoStJobId], async (id) => {
      await jobs.reset(id);
      return null;
    }, 'admin'),
    WdPoStRemoveJob: method([WdPoStJobId], async (id) => {
      await jobs.remove(id);
      return null;
    }, 'admin'),
  };
  return {
    ...Object.fromEntries(Object.entries(venus).map(([name, def]) => [`Venus.${name}`, def])),
    ...Object.fromEntries(Object.entries(admin).map(([name, def]) => [`SealFleet.${name}`, def])),
  };
}
