import { join } from 'node:path';
import { describeError } from '../../core/errors.js';
import { WINDOW_POST_PROOFS } from '../../core/proofTypes.js';
import { formatSectorId } from '../../core/sectorId.js';
import type { PoStReplica } from '../../core/wire/processor.js';
import type { WdPoStAllocateSpec, WdPoStInput } from '../../core/wire/wdpost.js';
import type { SealingConfig } from '../config.js';
import { emptyTask } from '../task.js';
import type { Step, StepContext } from './context.js';
import { required } from './common.js';

/** How often a thread proving a job tells the manager it is still at it: well within any `heartbeat_timeout` (15s by default). */
export const WDPOST_HEARTBEAT_MS = 1000;

/** `allowed_sizes` as the WindowPoSt proof names of those sizes, as damocles asks. */
export function wdpostSpec(s: SealingConfig): WdPoStAllocateSpec {
  const sizes = s.allowed_sizes;
  return { AllowedMiners: s.allowed_miners, AllowedProofTypes: sizes ? WINDOW_POST_PROOFS.filter((p) => sizes.includes(p.sectorSize)).map((p) => p.name) : null };
}

/**
 * The longest a wdpost thread waits before asking for a job again. A deadline's job must be taken at once: the
 * manager proves the deadline itself after `[proving.worker_prover] fallback_after` (20s by default), and the
 * `recover_interval` a sealing thread rests (1min by default) would leave most jobs to it.
 */
const WDPOST_ASK_MS = 5000;

/**
 * Empty (wdpost): ask for a job until there is one; an empty answer is asked again after `recover_interval`
 * or 5s, whichever is shorter, never after the `seal_interval` rest sector plans take.
 */
export const allocateWdPoStJob: Step = async (ctx) => {
  for (;;) {
    const [job] = await ctx.manager.wdPoStAllocateJobs(wdpostSpec(ctx.sealing), 1, ctx.instance);
    if (job) {
      ctx.log.info({ job: job.ID, miner: job.Input.MinerID, sectors: job.Input.Sectors.length }, 'WindowPoSt job taken');
      return { event: 'AllocatedWdPoStJob', patch: { ...emptyTask('wdpost'), wdpost: { job, output: null, error: null } } };
    }
    await ctx.wait(Math.min(ctx.sealing.recover_interval, WDPOST_ASK_MS), 'no WindowPoSt job');
  }
};

/** The processor task of a job: each replica's files in this worker's mount of the store the manager names. */
function windowPoStTask(ctx: StepContext, input: WdPoStInput) {
  const replicas: PoStReplica[] = input.Sectors.map((s) => {
    const name = formatSectorId({ miner: input.MinerID, number: s.SectorID });
    return {
      sector_id: s.SectorID,
      comm_r: s.CommR,
      sealed_file: join(ctx.attached.locate(s.Accesses.SealedFile, 'read'), s.Upgrade ? 'update' : 'sealed', name),
      cache_dir: join(ctx.attached.locate(s.Accesses.CacheDir, 'read'), s.Upgrade ? 'update-cache' : 'cache', name),
    };
  });
  return { miner_id: input.MinerID, proof_type: input.ProofType, replicas, seed: input.Seed };
}

/**
 * Allocated (wdpost): run `window_post` over the job's replicas, telling the manager every few seconds that the
 * job is alive. A store this worker lacks or a processor error is the job's outcome, reported by the next step
 * (the manager then retries the job or proves the deadline itself), not a failure of the thread.
 */
export const generateWindowPoSt: Step = async (ctx) => {
  const held = required(ctx.task.wdpost, 'the WindowPoSt job');
  const { ID: id } = held.job;
  const beat = setInterval(() => {
    ctx.manager.wdPoStHeartbeatJobs([id], ctx.instance).catch((err: unknown) => ctx.log.warn({ job: id, err: describeError(err) }, 'WindowPoSt heartbeat failed'));
  }, WDPOST_HEARTBEAT_MS);
  try {
    const task = windowPoStTask(ctx, held.job.Input);
    ctx.running('window_post');
    const out = await ctx.processors.run('window_post', task);
    return { event: 'Generate', patch: { wdpost: { ...held, output: { Proofs: out.proofs, Faults: out.faults }, error: null } } };
  } catch (err) {
    ctx.log.warn({ job: id, err: describeError(err) }, 'WindowPoSt job failed');
    return { event: 'Generate', patch: { wdpost: { ...held, output: null, error: describeError(err) } } };
  } finally {
    clearInterval(beat);
  }
};

/** Generated (wdpost): hand the proof (or the error) back; the thread then takes the next job. */
export const finishWdPoStJob: Step = async (ctx) => {
  const held = required(ctx.task.wdpost, 'the WindowPoSt job');
  await ctx.manager.wdPoStFinishJob(held.job.ID, held.output, held.error ?? '', ctx.instance);
  ctx.log.info({ job: held.job.ID, proven: (held.output?.Proofs.length ?? 0) > 0, faults: held.output?.Faults ?? [], error: held.error }, 'WindowPoSt job finished');
  return { event: 'Finish' };
};
