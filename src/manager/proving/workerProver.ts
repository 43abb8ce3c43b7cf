import { setTimeout as sleep } from 'node:timers/promises';
import { cidToCommitment } from '../../core/commitment.js';
import type { Logger } from '../../core/log.js';
import { windowPoStProofName } from '../../core/proofTypes.js';
import type { WdPoStInput, WdPoStOutput } from '../../core/wire/wdpost.js';
import type { WdPoStJobsTable } from '../db/schema.js';
import type { Prover, WindowPoStRequest, WindowPoStResult } from './prover.js';
import type { WdPoStJobs, WorkerProverConfig } from './wdpostJobs.js';

/** How often the poster looks at its job while a worker proves it. */
const POLL_MS = 250;
/** How often it asks the chain whether the deadline is closing: a deadline window is minutes, not polls. */
const CLOSING_LOOK_MS = 2000;

/** A deadline's proof request as a job: each sector's store by name, CommR and seed as the sidecar's task takes them. */
export function jobInput(req: WindowPoStRequest): WdPoStInput {
  return {
    Sectors: req.challenged.map((s) => ({
      SectorID: s.number,
      CommR: Array.from(cidToCommitment('sealed', s.sealedCid)),
      Upgrade: s.upgrade,
      Accesses: { SealedFile: s.store, CacheDir: s.store },
    })),
    MinerID: req.miner,
    ProofType: windowPoStProofName(req.postProof),
    Seed: Array.from(req.randomness),
  };
}

type Verdict = { wait: true } | { result: WindowPoStResult } | { fallback: string };

/**
 * `[proving.worker_prover]`: the poster's prover becomes "enqueue the job, wait for a worker's proof". The
 * manager's own prover (`fallback`, as `[proving] proofs` names it) proves the deadline when no worker takes
 * the job within `fallback_after`, when the job failed `job_max_try` times, or when the worker's output has no
 * proof; the poster submits the same proof whoever computed it. `close` ends every wait (the manager stops).
 */
export function workerProver(d: { jobs: WdPoStJobs; fallback: Prover; config: WorkerProverConfig; log: Logger }): { prover: Prover; close(): void } {
  const stopping = new AbortController();

  const judge = async (id: string, row: WdPoStJobsTable | undefined, challenged: Set<number>, closing: () => Promise<boolean>): Promise<Verdict> => {
    // The manager proves it once the job is its own; a worker that took it meanwhile is waited for.
    const takeOver = async (why: string, evenRunning = false): Promise<Verdict> => ((await d.jobs.takeOver(id, why, evenRunning)) ? { fallback: why } : { wait: true });
    if (!row) return { fallback: 'the job was removed' };
    // However long a worker's proof may take, the deadline does not wait: close to its end the manager proves it.
    if (row.state !== 'finished' && (await closing())) {
      const why = `the deadline closes soon and the job is still ${row.state === 'running' ? `running on worker "${row.worker ?? ''}"` : 'queued'}`;
      return takeOver(why, true);
    }
    switch (row.state) {
      case 'running':
        return { wait: true };
      case 'ready2run': {
        if (Date.now() - Number(row.ready_at) < d.config.fallback_after) return { wait: true };
        const why = `no worker took the job within fallback_after (${d.config.fallback_after}ms)`;
        return takeOver(why);
      }
      case 'finished': {
        if (row.fallback_at !== null) return { fallback: row.error ?? 'the manager proves it' };
        if (row.output !== null) {
          const output = JSON.parse(row.output) as WdPoStOutput;
          const [proof] = output.Proofs;
          // A fault outside the challenged list is no sector of this proof: it must not make the poster skip one.
          const faulty = output.Faults.filter((n) => challenged.has(n));
          if (proof !== undefined || faulty.length > 0) return { result: { proof: new Uint8Array(Buffer.from(proof ?? '', 'base64')), faulty } };
          const why = `worker "${row.worker ?? ''}" returned no proof`;
          return takeOver(why);
        }
        if (Number(row.try_num) < d.config.job_max_try) return { wait: true };
        const why = `the job failed ${row.try_num} time(s) (job_max_try ${d.config.job_max_try}): ${row.error ?? ''}`;
        return takeOver(why);
      }
    }
  };

  const prover: Prover = async (req) => {
    const id = await d.jobs.enqueue(jobInput(req));
    const challenged = new Set(req.challenged.map((s) => s.number));
    let lookAfter = 0;
    const closing = async (): Promise<boolean> => {
      if (Date.now() < lookAfter) return false;
      lookAfter = Date.now() + CLOSING_LOOK_MS;
      return req.closing();
    };
    d.log.info({ job: id, miner: req.miner, sectors: challenged.size }, 'WindowPoSt job queued for the workers');
    for (;;) {
      if (stopping.signal.aborted) throw new Error(`the manager is stopping: WindowPoSt job ${id} is left to a worker, or to the next start`);
      const verdict = await judge(id, await d.jobs.get(id), challenged, closing);
      if ('result' in verdict) return verdict.result;
      if ('fallback' in verdict) {
        d.log.warn({ job: id, miner: req.miner, reason: verdict.fallback }, 'proving the deadline on the manager');
        return d.fallback(req);
      }
      await sleep(POLL_MS, undefined, { signal: stopping.signal }).catch(() => undefined);
    }
  };
  return { prover, close: () => stopping.abort() };
}
