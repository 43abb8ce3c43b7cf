import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Logger } from '../../core/log.js';
import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { WDPOST_JOB_NOT_HELD, type WdPoStAllocateSpec, type WdPoStInput, type WdPoStJob, type WdPoStJobView, type WdPoStOutput } from '../../core/wire/wdpost.js';
import type { ManagerConfig } from '../config.js';
import type { ManagerDb } from '../db/open.js';
import type { WdPoStJobsTable } from '../db/schema.js';

export type WorkerProverConfig = ManagerConfig['proving']['worker_prover'];

/** The id of a job: identical inputs (the same deadline proven again after a restart) are one job. */
export const jobId = (input: WdPoStInput): string => createHash('sha256').update(JSON.stringify(input)).digest('hex');

const notHeld = (message: string): RpcError => new RpcError(WDPOST_JOB_NOT_HELD, message);
const unknownJob = (id: string): RpcError => new RpcError(RPC_CODES.Application, `no WindowPoSt job ${id}: see util worker wdpost list`);

/** Where a job is, for a refusal: its state, and who has it or why it ended. */
function describeJob(row: WdPoStJobsTable): string {
  switch (row.state) {
    case 'ready2run':
      return 'waiting for a worker';
    case 'running':
      return `running on worker "${row.worker ?? ''}"`;
    case 'finished':
      return row.fallback_at !== null ? 'finished: proven by the manager' : `finished${row.error ? `: ${row.error}` : ''}`;
  }
}

/**
 * The Window PoSt jobs of workers' wdpost threads (`wdpost_jobs`): ready2run → running (a worker took it) →
 * finished (with a proof, or an error). Each change is one statement conditioned on the state it leaves (and,
 * for a worker, on holding the job), so two workers never take one job and a worker that lost its job cannot
 * finish it. The sweep times out silent workers, retries failed jobs up to `job_max_try`, and deletes old jobs.
 */
export class WdPoStJobs {
  constructor(
    private readonly db: ManagerDb,
    private readonly config: WorkerProverConfig,
    private readonly log: Logger,
  ) {}

  /** Adds the job unless an identical one is there already; its id either way. */
  async enqueue(input: WdPoStInput): Promise<string> {
    const id = jobId(input);
    const now = Date.now();
    await this.db
      .insertInto('wdpost_jobs')
      .values({ id, miner: input.MinerID, proof_type: input.ProofType, input: JSON.stringify(input), state: 'ready2run', try_num: 0, worker: null, created_at: now, ready_at: now, started_at: null, heartbeat_at: null, finished_at: null, output: null, error: null, fallback_at: null })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return id;
  }

  get(id: string): Promise<WdPoStJobsTable | undefined> {
    return this.db.selectFrom('wdpost_jobs').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Up to `num` ready jobs the spec allows, oldest first, each moved to running on `worker` (claimed in one transaction). */
  allocate(spec: WdPoStAllocateSpec, num: number, worker: string): Promise<WdPoStJob[]> {
    return this.db.transaction().execute(async (trx) => {
      let candidates = trx.selectFrom('wdpost_jobs').select(['id', 'input']).where('state', '=', 'ready2run').orderBy('ready_at').limit(num);
      if (spec.AllowedMiners?.length) candidates = candidates.where('miner', 'in', spec.AllowedMiners);
      if (spec.AllowedProofTypes?.length) candidates = candidates.where('proof_type', 'in', spec.AllowedProofTypes);
      const taken: WdPoStJob[] = [];
      const now = Date.now();
      for (const row of await candidates.execute()) {
        // Conditioned on the state: a job another manager's transaction took first is not updated here.
        const claimed = await trx
          .updateTable('wdpost_jobs')
          .set({ state: 'running', try_num: sql<number>`try_num + 1`, worker, started_at: now, heartbeat_at: now, finished_at: null, output: null, error: null })
          .where('id', '=', row.id)
          .where('state', '=', 'ready2run')
          .executeTakeFirst();
        if (Number(claimed.numUpdatedRows) === 1) taken.push({ ID: row.id, Input: JSON.parse(row.input) as WdPoStInput });
      }
      for (const job of taken) this.log.info({ job: job.ID, worker, miner: job.Input.MinerID }, 'WindowPoSt job taken by a worker');
      return taken;
    });
  }

  /** Keeps the jobs alive; a job `worker` does not hold is refused (with the others still kept alive). */
  async heartbeat(ids: string[], worker: string): Promise<void> {
    if (ids.length === 0) return;
    await this.db.updateTable('wdpost_jobs').set({ heartbeat_at: Date.now() }).where('id', 'in', ids).where('state', '=', 'running').where('worker', '=', worker).execute();
    const rows = await this.db.selectFrom('wdpost_jobs').selectAll().where('id', 'in', ids).execute();
    for (const id of ids) {
      const row = rows.find((r) => r.id === id);
      if (!row) throw notHeld(`no WindowPoSt job ${id}: it was removed`);
      if (row.state !== 'running' || row.worker !== worker) throw notHeld(`WindowPoSt job ${id} is not held by worker "${worker}": it is ${describeJob(row)}`);
    }
  }

  /** The worker's outcome: its output, or why it has none. Refused unless `worker` still holds the job. */
  async finish(id: string, output: WdPoStOutput | null, errorReason: string, worker: string | undefined): Promise<void> {
    const row = await this.get(id);
    if (!row) throw notHeld(`no WindowPoSt job ${id}: it was removed`);
    const who = worker === undefined ? 'this worker' : `worker "${worker}"`;
    if (row.state !== 'running' || (worker !== undefined && row.worker !== worker)) {
      throw notHeld(`WindowPoSt job ${id} is not held by ${who}: it is ${describeJob(row)}; its result is not taken`);
    }
    const error = output === null ? errorReason || 'the worker gave neither an output nor an error' : errorReason || null;
    const done = await this.db
      .updateTable('wdpost_jobs')
      .set({ state: 'finished', output: output === null ? null : JSON.stringify(output), error, finished_at: Date.now() })
      .where('id', '=', id)
      .where('state', '=', 'running')
      .where('worker', '=', row.worker)
      .where('try_num', '=', row.try_num)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) throw notHeld(`WindowPoSt job ${id} changed hands while ${who} finished it; its result is not taken`);
    this.log.info({ job: id, worker: row.worker, proofs: output?.Proofs.length ?? 0, faults: output?.Faults ?? [], error }, 'WindowPoSt job finished by its worker');
  }

  /**
   * The manager proves the job's deadline itself: a job waiting for a worker, or finished without a usable proof,
   * is marked so, and no worker takes or retries it any more. False if a worker holds it (or took it meanwhile).
   */
  async takeOver(id: string, reason: string, evenRunning = false): Promise<boolean> {
    const now = Date.now();
    const done = await this.db
      .updateTable('wdpost_jobs')
      .set((eb) => ({ state: 'finished', fallback_at: now, finished_at: now, error: eb.fn.coalesce('error', sql<string>`${reason}`) }))
      .where('id', '=', id)
      .where((eb) => eb.or([eb('state', '=', 'ready2run'), eb.and([eb('state', '=', 'finished'), eb('fallback_at', 'is', null)]), ...(evenRunning ? [eb('state', '=', 'running')] : [])]))
      .executeTakeFirst();
    return Number(done.numUpdatedRows) === 1;
  }

  /** The operator's reset: ready for a worker again, its tries forgotten. */
  async reset(id: string): Promise<void> {
    const now = Date.now();
    const done = await this.db
      .updateTable('wdpost_jobs')
      .set({ state: 'ready2run', try_num: 0, worker: null, ready_at: now, started_at: null, heartbeat_at: null, finished_at: null, output: null, error: null, fallback_at: null })
      .where('id', '=', id)
      .executeTakeFirst();
    if (Number(done.numUpdatedRows) !== 1) throw unknownJob(id);
  }

  async remove(id: string): Promise<void> {
    const done = await this.db.deleteFrom('wdpost_jobs').where('id', '=', id).executeTakeFirst();
    if (Number(done.numDeletedRows) !== 1) throw unknownJob(id);
  }

  async list(): Promise<WdPoStJobView[]> {
    const rows = await this.db.selectFrom('wdpost_jobs').selectAll().orderBy('created_at', 'desc').orderBy('id').execute();
    return rows.map((r) => {
      const output = r.output === null ? null : (JSON.parse(r.output) as WdPoStOutput);
      return {
        ID: r.id,
        Miner: Number(r.miner),
        ProofType: r.proof_type,
        Sectors: (JSON.parse(r.input) as WdPoStInput).Sectors.length,
        State: r.state,
        TryNum: Number(r.try_num),
        Worker: r.worker,
        CreatedAt: Number(r.created_at),
        StartedAt: r.started_at === null ? null : Number(r.started_at),
        HeartbeatAt: r.heartbeat_at === null ? null : Number(r.heartbeat_at),
        FinishedAt: r.finished_at === null ? null : Number(r.finished_at),
        Proven: (output?.Proofs.length ?? 0) > 0,
        Faults: output?.Faults ?? [],
        Error: r.error,
        FallbackAt: r.fallback_at === null ? null : Number(r.fallback_at),
      };
    });
  }

  /** Times out silent workers, puts failed jobs with tries left back in the queue, and deletes jobs past their lifetime. */
  async sweep(): Promise<void> {
    const now = Date.now();
    const silent = await this.db
      .selectFrom('wdpost_jobs')
      .select(['id', 'worker', 'try_num'])
      .where('state', '=', 'running')
      .where('heartbeat_at', '<', now - this.config.heartbeat_timeout)
      .execute();
    for (const job of silent) {
      const done = await this.db
        .updateTable('wdpost_jobs')
        .set({ state: 'finished', error: 'heartbeat timeout', finished_at: now })
        .where('id', '=', job.id)
        .where('state', '=', 'running')
        .where('try_num', '=', job.try_num)
        .where('heartbeat_at', '<', now - this.config.heartbeat_timeout)
        .executeTakeFirst();
      if (Number(done.numUpdatedRows) === 1) this.log.warn({ job: job.id, worker: job.worker, try: job.try_num }, 'WindowPoSt job: heartbeat timeout');
    }
    const retried = await this.db
      .updateTable('wdpost_jobs')
      .set({ state: 'ready2run', ready_at: now })
      .where('state', '=', 'finished')
      .where('output', 'is', null)
      .where('fallback_at', 'is', null)
      .where('try_num', '<', this.config.job_max_try)
      .executeTakeFirst();
    if (Number(retried.numUpdatedRows) > 0) this.log.info({ jobs: Number(retried.numUpdatedRows) }, 'failed WindowPoSt jobs queued again');
    await this.db.deleteFrom('wdpost_jobs').where('created_at', '<', now - this.config.job_lifetime).execute();
  }
}
