import type { Selectable, Updateable } from 'kysely';
import { z } from 'zod';
import type { LotusClient } from '../../chain/client.js';
import { fromRunsJson } from '../../chain/bitfield.js';
import { encodeDeclareFaults, encodeDeclareFaultsRecovered, encodeSubmitWindowedPoSt, MinerMethod, type PartitionSectors, type PoStPartition } from '../../chain/minerParams.js';
import { DomainSeparationTag } from '../../chain/randomness.js';
import type { DeadlineInfo } from '../../chain/types.js';
import type { Logger } from '../../core/log.js';
import type { MinerFacts, Miners } from '../commitment/miners.js';
import { unlessBusy } from '../db/locks.js';
import type { ManagerDb } from '../db/open.js';
import type { PostSubmissionsTable } from '../db/schema.js';
import type { DbDialect } from '../db/target.js';
import type { SectorStore } from '../sectors/store.js';
import { deadlineOpen, readPartitions, type PartitionView } from './deadlines.js';
import { pushMinerMessage } from './minerMessage.js';
import { recordSectorLife, type LifeMessages, type LifeMessageSector } from './lifeMessages.js';
import type { ProvenSector, Prover } from './prover.js';
import type { SectorFiles, SectorReplica } from './sectorFiles.js';

/** What a submission row's `partitions` column holds: what the proof covers, and what it left out and why. */
export const SubmissionDetail = z.object({
  partitions: z.array(z.number().int()),
  skipped: z.array(z.object({ number: z.number().int(), reason: z.string() })),
  /** Sectors declared recovered that this proof covers: proven again once it lands. */
  recovering: z.array(z.number().int()),
});
export type SubmissionDetail = z.infer<typeof SubmissionDetail>;

/** Proof messages one deadline may get when they fail on chain. */
const MAX_PROOF_ATTEMPTS = 3;

/** Tipsets a claimed proof may wait for its push before a restarted manager concludes it was lost and pushes again. */
const LOST_PUSH_EPOCHS = 2;

export interface PosterDeps {
  db: ManagerDb;
  dialect: DbDialect;
  lotus: LotusClient;
  miners: Miners;
  records: SectorStore;
  files: SectorFiles;
  messages: LifeMessages;
  prover: Prover;
  log: Logger;
  pollMs: number;
}

/**
 * Proves each configured miner's sectors every deadline (Window PoSt): follows the miner's current deadline,
 * checks the files of every sector to prove, leaves out (skips) and declares faulty the ones it cannot read,
 * submits the proof before the deadline closes and watches its receipt; declares recoveries once files are
 * back. Each deadline's submission is claimed in the database before it is pushed, so no deadline gets two.
 */
export class Poster {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: PosterDeps) {}

  start(): void {
    const tick = (): void => {
      this.running = this.round().finally(() => {
        if (this.timer !== undefined) this.timer = setTimeout(tick, this.deps.pollMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async round(): Promise<void> {
    // The miners side by side: one whose proof takes long (a worker's job, a real proof) holds up no other's deadline.
    await Promise.all(
      this.deps.miners.all().map((m) =>
        // Every manager follows the deadlines; one at a time across the database proves a miner.
        unlessBusy(this.deps.db, this.deps.dialect, `poster-${m.config.id}`, () => this.tend(m)).catch((err: unknown) =>
          this.deps.log.warn({ err, miner: m.address }, 'proving round failed'),
        ),
      ),
    );
  }

  private async tend(m: MinerFacts): Promise<void> {
    const dl = await this.deps.lotus.stateMinerProvingDeadline(m.address);
    await this.prove(m, dl);
    await this.declare(m, dl);
  }

  /**
   * Declares faults for unreadable sectors, and recoveries for faulty ones whose files are back, in the next
   * two deadlines whose fault cutoff has not passed: the chain would challenge them next.
   */
  private async declare(m: MinerFacts, dl: DeadlineInfo): Promise<void> {
    // The chain's fault and recovery bits change when the declaration lands: declare nothing before.
    if (await this.deps.messages.pending(m.config.id, ['FaultDeclared', 'RecoveryDeclared'])) return;
    const faults: PartitionSectors[] = [];
    const recoveries: PartitionSectors[] = [];
    const faultReasons: LifeMessageSector[] = [];
    const recovered: LifeMessageSector[] = [];
    for (const step of [1, 2]) {
      const index = (dl.Index + step) % dl.WPoStPeriodDeadlines;
      // The message lands at the next epoch at the earliest; it must land before the cutoff.
      if (dl.CurrentEpoch + 1 >= deadlineOpen(dl, index).faultCutoff) continue;
      for (const p of await readPartitions(this.deps.lotus, m.address, index)) {
        const newFaults: number[] = [];
        const newRecoveries: number[] = [];
        for (const n of p.live) {
          const files = await this.deps.files.check(m.config.id, n);
          const faulty = p.faulty.has(n) && !p.recovering.has(n);
          if (!files.ok && !faulty) {
            newFaults.push(n);
            faultReasons.push({ number: n, desc: `deadline ${index} partition ${p.index}: ${files.reason}` });
          } else if (files.ok && faulty) {
            newRecoveries.push(n);
            recovered.push({ number: n, desc: `deadline ${index} partition ${p.index}: files are back` });
          }
        }
        if (newFaults.length > 0) faults.push({ deadline: index, partition: p.index, sectors: newFaults });
        if (newRecoveries.length > 0) recoveries.push({ deadline: index, partition: p.index, sectors: newRecoveries });
      }
    }
    if (faults.length > 0) {
      const cid = await this.deps.messages.send(m, MinerMethod.DeclareFaults, encodeDeclareFaults({ faults }), 'FaultDeclared', faultReasons);
      this.deps.log.warn({ miner: m.address, cid, sectors: faultReasons }, 'declaring faults');
    }
    if (recoveries.length > 0) {
      const cid = await this.deps.messages.send(m, MinerMethod.DeclareFaultsRecovered, encodeDeclareFaultsRecovered({ recoveries }), 'RecoveryDeclared', recovered);
      this.deps.log.info({ miner: m.address, cid, sectors: recovered.map((s) => s.number) }, 'declaring recoveries');
    }
  }

  /** Proves the open deadline once: claims its row, skips unreadable sectors, pushes the proof; or watches the proof pushed. */
  private async prove(m: MinerFacts, dl: DeadlineInfo): Promise<void> {
    const key = { miner: m.config.id, period: dl.PeriodStart, deadline: dl.Index };
    const row = await this.deps.db
      .selectFrom('post_submissions')
      .selectAll()
      .where('miner', '=', key.miner)
      .where('period_start', '=', key.period)
      .where('deadline', '=', key.deadline)
      .executeTakeFirst();
    if (row) return this.follow(m, dl, row);
    const plan = await this.plan(m, dl);
    if (!plan) return;
    const now = Date.now();
    const claimed = await this.deps.db
      .insertInto('post_submissions')
      .values({
        miner: key.miner,
        period_start: key.period,
        deadline: key.deadline,
        partitions: JSON.stringify(plan.detail),
        claimed_epoch: dl.CurrentEpoch,
        state: 'claimed',
        cid: null,
        exit_code: null,
        error: null,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(claimed.numInsertedOrUpdatedRows ?? 0n) !== 1) return;
    await this.submit(m, dl, plan);
  }

  /** A row found for the open deadline: a pushed proof to watch, or a claim whose push was lost. */
  private async follow(m: MinerFacts, dl: DeadlineInfo, row: Selectable<PostSubmissionsTable>): Promise<void> {
    switch (row.state) {
      case 'landed':
        return;
      case 'failed':
        return this.resend(m, dl, row);
      case 'pushed':
        return this.watchProof(m, row);
      case 'claimed': {
        // Killed between the claim and the push, or the push went unanswered. A pushed message lands in
        // the next tipsets, so once some have passed, a deadline still unproven on chain lost its push.
        if (dl.CurrentEpoch < Number(row.claimed_epoch) + LOST_PUSH_EPOCHS) return;
        const plan = await this.plan(m, dl);
        if (!plan) {
          await this.setRow(row, { state: 'landed', error: 'proven on chain by a message this manager did not record' });
          return;
        }
        if (!(await this.retake(row, { claimed_epoch: dl.CurrentEpoch, partitions: JSON.stringify(plan.detail) }))) return;
        this.deps.log.warn({ miner: m.address, deadline: dl.Index, claimedAt: row.claimed_epoch }, 'a claimed proof was never pushed: proving the deadline again');
        return this.submit(m, dl, plan);
      }
      default: {
        const unhandled: never = row.state;
        throw new Error(`unknown submission state ${String(unhandled)}`);
      }
    }
  }

  /**
   * A proof message that failed on chain (a proof the actor refused, a chain commit epoch it did not accept):
   * proven again and sent again while the deadline is open, up to MAX_PROOF_ATTEMPTS messages. A computed
   * proof can be wrong (a GPU's bit error, a replica read while it changed), and a fresh one often is not.
   */
  private async resend(m: MinerFacts, dl: DeadlineInfo, row: Selectable<PostSubmissionsTable>): Promise<void> {
    // The new message lands at the next epoch at the earliest; the deadline must still be open then.
    if (row.attempts >= MAX_PROOF_ATTEMPTS || dl.CurrentEpoch + 1 >= dl.Close) return;
    const plan = await this.plan(m, dl);
    if (!plan) return;
    if (!(await this.retake(row, { state: 'claimed', attempts: row.attempts + 1, claimed_epoch: dl.CurrentEpoch, partitions: JSON.stringify(plan.detail), cid: null, exit_code: null, error: null }))) return;
    this.deps.log.warn({ miner: m.address, deadline: dl.Index, failed: row.cid, exitCode: row.exit_code, attempt: row.attempts + 1 }, 'the proof message failed on chain: proving the deadline again');
    return this.submit(m, dl, plan);
  }

  /**
   * Takes a deadline's row up again (a lost push, a failed message), unless another manager, or an earlier round,
   * changed it since it was read: true when this one did.
   */
  private async retake(row: Selectable<PostSubmissionsTable>, changes: Omit<Updateable<PostSubmissionsTable>, 'miner' | 'period_start' | 'deadline'>): Promise<boolean> {
    const done = await this.deps.db
      .updateTable('post_submissions')
      .set({ ...changes, updated_at: Date.now() })
      .where('miner', '=', row.miner)
      .where('period_start', '=', row.period_start)
      .where('deadline', '=', row.deadline)
      .where('state', '=', row.state)
      .where('claimed_epoch', '=', row.claimed_epoch)
      .where('attempts', '=', row.attempts)
      .executeTakeFirst();
    return Number(done.numUpdatedRows) === 1;
  }

  /**
   * What to prove in the open deadline: the partitions not yet proven that hold a sector to prove, each
   * unreadable sector skipped. Null when there is nothing to prove.
   */
  private async plan(m: MinerFacts, dl: DeadlineInfo): Promise<{ detail: SubmissionDetail; parts: PartitionView[]; files: Map<number, SectorReplica> } | null> {
    const deadlines = await this.deps.lotus.stateMinerDeadlines(m.address);
    const posted = new Set(fromRunsJson(deadlines[dl.Index]?.PostSubmissions ?? [0]));
    const parts: PartitionView[] = [];
    const files = new Map<number, SectorReplica>();
    const detail: SubmissionDetail = { partitions: [], skipped: [], recovering: [] };
    for (const p of await readPartitions(this.deps.lotus, m.address, dl.Index)) {
      if (posted.has(p.index)) continue;
      const skipped: SubmissionDetail['skipped'] = [];
      let provable = 0;
      for (const n of p.live) {
        if (p.faulty.has(n) && !p.recovering.has(n)) continue;
        const check = await this.deps.files.check(m.config.id, n);
        if (check.ok) {
          provable++;
          files.set(n, { sealed: check.sealed, cache: check.cache, store: check.store, upgrade: check.upgrade });
          if (p.recovering.has(n)) detail.recovering.push(n);
        } else skipped.push({ number: n, reason: check.reason });
      }
      detail.skipped.push(...skipped);
      // A partition with nothing left to prove stays out; its sectors are faulty (skipped ones are declared).
      if (provable === 0) continue;
      parts.push(p);
      detail.partitions.push(p.index);
    }
    return detail.partitions.length > 0 ? { detail, parts, files } : null;
  }

  private async submit(m: MinerFacts, dl: DeadlineInfo, plan: NonNullable<Awaited<ReturnType<Poster['plan']>>>): Promise<void> {
    const { lotus } = this.deps;
    const key = { miner: m.config.id, period_start: dl.PeriodStart, deadline: dl.Index };
    try {
      const randomness = await lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, dl.Challenge, m.entropy);
      const chainCommitEpoch = dl.CurrentEpoch;
      const chainCommitRand = await lotus.stateGetRandomnessFromTickets(DomainSeparationTag.PoStChainCommit, chainCommitEpoch, new Uint8Array());
      const postProof = (await lotus.stateMinerInfo(m.address)).WindowPoStProofType;
      const skipped = new Set(plan.detail.skipped.map((s) => s.number));
      let proof: Uint8Array | undefined;
      // The prover may find more unreadable replicas than the file check did: they are skipped, and it proves again.
      while (proof === undefined) {
        const challenged = await this.challenged(m, plan.parts, skipped, plan.files);
        const out = await this.deps.prover({ miner: m.config.id, postProof, randomness, challenged, closing: () => this.closing(m, dl) });
        const more = out.faulty.filter((n) => !skipped.has(n));
        if (more.length === 0) proof = out.proof;
        for (const n of more) {
          skipped.add(n);
          plan.detail.skipped.push({ number: n, reason: 'the prover could not read its replica' });
        }
      }
      const partitions: PoStPartition[] = plan.parts.map((p) => ({ index: p.index, skipped: p.all.filter((n) => skipped.has(n)) }));
      const params = encodeSubmitWindowedPoSt({ deadline: dl.Index, partitions, proofs: [{ postProof, proofBytes: proof }], chainCommitEpoch, chainCommitRand });
      for (const s of plan.detail.skipped) await recordSectorLife(this.deps, { Miner: m.config.id, Number: s.number }, 'PoStSkipped', `deadline ${dl.Index} (period ${dl.PeriodStart}): ${s.reason}`);
      const cid = await pushMinerMessage(lotus, m, MinerMethod.SubmitWindowedPoSt, params);
      await this.setRow(key, { state: 'pushed', cid, partitions: JSON.stringify(plan.detail) });
      this.deps.log.info({ miner: m.address, deadline: dl.Index, periodStart: dl.PeriodStart, partitions: plan.detail.partitions, skipped: [...skipped], cid }, 'window post submitted');
    } catch (err) {
      // The claim stays: after LOST_PUSH_EPOCHS the deadline is proven again if the chain has no proof for it.
      await this.setRow(key, { error: (err as Error).message });
      throw err;
    }
  }

  /**
   * Whether deadline `dl` has under a quarter of its challenge window left (or has closed): a proof left to a
   * worker is then proven by the manager, whatever the worker is doing.
   */
  private async closing(m: MinerFacts, dl: DeadlineInfo): Promise<boolean> {
    const now = await this.deps.lotus.stateMinerProvingDeadline(m.address);
    return now.Open !== dl.Open || now.CurrentEpoch >= dl.Close - Math.ceil(dl.WPoStChallengeWindow / 4);
  }

  /** The actor's challenged list: every sector of the partitions in number order, each left-out one replaced by the first good one. */
  private async challenged(m: MinerFacts, parts: PartitionView[], skipped: Set<number>, files: Map<number, SectorReplica>): Promise<ProvenSector[]> {
    const all = parts.flatMap((p) => p.all.map((n) => ({ n, ignored: !p.live.has(n) || skipped.has(n) || (p.faulty.has(n) && !p.recovering.has(n)) }))).sort((a, b) => a.n - b.n);
    const good = all.find((s) => !s.ignored);
    if (!good) throw new Error('no sector left to prove');
    const out: ProvenSector[] = [];
    for (const s of all) {
      const n = s.ignored ? good.n : s.n;
      const info = await this.deps.lotus.stateSectorGetInfo(m.address, n);
      if (!info) throw new Error(`sector ${n} of ${m.address} has no on-chain info`);
      // n is a sector plan() found readable: every other one was replaced by the first good one above.
      const replica = files.get(n);
      if (!replica) throw new Error(`sector ${n} of ${m.address} is to be proven, but its files were not checked`);
      out.push({ number: n, sealedCid: info.SealedCID['/'], ...replica });
    }
    return out;
  }

  private async watchProof(m: MinerFacts, row: Selectable<PostSubmissionsTable>): Promise<void> {
    if (row.cid === null) return;
    const found = await this.deps.lotus.stateSearchMsg({ '/': row.cid });
    if (!found) return;
    const exitCode = found.Receipt.ExitCode;
    await this.setRow(row, { state: exitCode === 0 ? 'landed' : 'failed', exit_code: exitCode });
    if (exitCode !== 0) {
      this.deps.log.error({ miner: m.address, deadline: row.deadline, cid: row.cid, exitCode }, 'window post failed on chain');
      return;
    }
    this.deps.log.info({ miner: m.address, deadline: row.deadline, cid: row.cid, height: found.Height }, 'window post landed');
    const detail = SubmissionDetail.parse(JSON.parse(row.partitions));
    for (const n of detail.recovering) await recordSectorLife(this.deps, { Miner: m.config.id, Number: n }, 'Recovered', `proven in deadline ${row.deadline} by message ${row.cid}`);
  }

  private async setRow(key: Pick<PostSubmissionsTable, 'miner' | 'period_start' | 'deadline'>, changes: Omit<Updateable<PostSubmissionsTable>, 'miner' | 'period_start' | 'deadline'>): Promise<void> {
    await this.deps.db
      .updateTable('post_submissions')
      .set({ ...changes, updated_at: Date.now() })
      .where('miner', '=', key.miner)
      .where('period_start', '=', key.period_start)
      .where('deadline', '=', key.deadline)
      .execute();
  }
}
