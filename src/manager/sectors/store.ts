import { isDeepStrictEqual } from 'node:util';
import type { Selectable, SelectQueryBuilder, Transaction } from 'kysely';
import { RpcError } from '../../core/rpc/errors.js';
import { formatSectorId } from '../../core/sectorId.js';
import { SECTOR_STATE_NOT_FOUND, type PreCommitOnChainInfo, type ReportStateReq, type SectorID, type SectorPieceV2, type Seed, type Ticket } from '../../core/wire/sealer.js';
import type { SectorEnded } from '../../core/wire/sectorEnded.js';
import { GroupCommit } from '../db/groupCommit.js';
import type { ManagerDb } from '../db/open.js';
import type { Database, MessagesTable, SectorEventsTable } from '../db/schema.js';
import type { DbDialect } from '../db/target.js';
import type { PieceQueue } from '../deals/pieces.js';
import type { PersistStores } from '../stores.js';
import { decodeSector, encodeChanges, type SectorChanges, type SectorRecord, type SectorRow, type UpgradeRecord } from './columns.js';
import {
  allocatedPosition,
  moveOf,
  nextPosition,
  SECTOR_PLANS,
  positionLabel,
  STATUS_OF,
  type LifecyclePosition,
  type LifeTransition,
  type SectorPlan,
  type SectorStage,
  type SectorStatus,
  type TransitionName,
} from './lifecycle.js';

export type { SectorRecord } from './columns.js';
export type SectorEventRow = Selectable<SectorEventsTable>;
/** What a sector-store transaction is timed under: its lifecycle transition, or a batch of worker reports. */
export type TransactionName = TransitionName | 'ReportState';
type Tx = Transaction<Database>;
type MessageKind = MessagesTable['kind'];

/** What a ReportState answer needs of the sector, read in the transaction that logs the report. */
export type ReportedSector = Pick<SectorRow, 'miner' | 'number' | 'status' | 'plan' | 'stage' | 'abort_request' | 'abort_reason' | 'latest_state'>;

interface PendingReport {
  id: SectorID;
  req: ReportStateReq;
  at: number;
}

/** What a transition's body decides: the data it records, the text of its event row, what the caller gets. */
interface Outcome<R> {
  changes?: SectorChanges;
  desc?: string | null;
  result: R;
}

export const sectorKey = (id: SectorID): string => formatSectorId({ miner: id.Miner, number: id.Number });
const idOf = (row: Pick<SectorRow, 'miner' | 'number'>): SectorID => ({ Miner: Number(row.miner), Number: Number(row.number) });

/** A sector this manager has no record of: the worker pauses on it, it does not drop the sector. */
const notFound = (id: SectorID): RpcError =>
  new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector state not found (${sectorKey(id)}): this manager has no record of the sector`);

/** Abort reasons of sectors the orphan sweep released start with this. */
export const ORPHAN_REASON = 'orphaned: ';
export const isOrphanRelease = (row: Pick<SectorRow, 'status' | 'abort_reason'>): boolean =>
  row.status === 'aborted' && (row.abort_reason?.startsWith(ORPHAN_REASON) ?? false);

/** Stands in for a message id when the chain already had the sector's data before we sent anything. */
export const ALREADY_ON_CHAIN = 'already-on-chain';

/** The worker column of the event rows the manager writes for its own transitions. */
export const MANAGER_EVENT_SOURCE = 'manager';

/** The stage a sector waits in for each kind of message, and the transition that puts it in one. */
const QUEUED: Record<MessageKind, SectorStage> = { precommit: 'precommit_queued', prove: 'proof_queued', snap: 'upgrade_queued' };
const SENT: Record<MessageKind, TransitionName> = { precommit: 'PreCommitSent', prove: 'ProofSent', snap: 'UpgradeSent' };
const MESSAGE_COLUMN: Record<MessageKind, 'pre_message' | 'prove_message' | 'upgrade_message'> = { precommit: 'pre_message', prove: 'prove_message', snap: 'upgrade_message' };
/** Where an orphan can be, per plan: the stages the lifecycle table releases orphans from. */
const ORPHAN_FROM = SECTOR_PLANS.flatMap((plan) => {
  const stages = (moveOf('OrphanReleased', plan)?.from ?? []) as readonly SectorStage[];
  return stages.length > 0 ? [{ plan, stages: [...stages] }] : [];
});

/**
 * The manager's sector records and their event log, and the only writer of `sectors`. Each method that
 * changes a record is one named transition of the lifecycle table (lifecycle.ts) and one transaction: it
 * reads the row (under a row lock on PostgreSQL), refuses what the table does not allow from the row's plan
 * and stage, writes the row with its JSON columns checked, and logs the transition as an event row.
 */
export class SectorStore {
  private readonly reports = new GroupCommit<PendingReport, ReportedSector | undefined>((batch) => this.commitReports(batch), 200);

  constructor(
    private readonly db: ManagerDb,
    /** The tables a transition changes together with the sector: its pieces, its store reservation. */
    private readonly linked: { pieces: PieceQueue; stores: PersistStores },
    /** PostgreSQL locks the rows a transition reads; SQLite runs one writer at a time. */
    private readonly dialect: DbDialect,
    /** Told how long each transaction took, by the transition it made (metrics). */
    private readonly observeTransaction?: (name: TransactionName, seconds: number) => void,
  ) {}

  /** One transaction, timed under `name` (failed ones too: a slow rollback is still a slow transaction). */
  private async tx<R>(name: TransactionName, body: (trx: Tx) => Promise<R>): Promise<R> {
    const start = performance.now();
    try {
      return await this.db.transaction().execute(body);
    } finally {
      this.observeTransaction?.(name, (performance.now() - start) / 1000);
    }
  }

  async get(id: SectorID): Promise<SectorRecord | undefined> {
    const row = await this.db.selectFrom('sectors').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).executeTakeFirst();
    return row && decodeSector(row);
  }

  /** The record, or the error damocles workers take as "abort this sector" (ours pause: see SectorEnded). */
  async require(id: SectorID): Promise<SectorRecord> {
    const row = await this.get(id);
    if (!row) throw notFound(id);
    return row;
  }

  /** The record while a worker owns it; finalized or aborted sectors refuse sealing calls the same way. */
  async requireSealing(id: SectorID): Promise<SectorRecord> {
    const row = await this.require(id);
    if (row.status !== 'sealing') {
      const data: SectorEnded = { Known: true, Status: row.status, Reason: row.abort_reason };
      throw new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector ${sectorKey(id)} is ${row.status}${row.abort_reason ? ` (${row.abort_reason})` : ''}`, data);
    }
    return row;
  }

  async list(filter: { status?: SectorStatus; stage?: SectorStage; plan?: SectorPlan; miner?: number; state?: string; limit?: number; offset?: number }): Promise<SectorRecord[]> {
    let q = this.db.selectFrom('sectors').selectAll();
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.stage) q = q.where('stage', '=', filter.stage);
    if (filter.plan) q = q.where('plan', '=', filter.plan);
    if (filter.miner !== undefined) q = q.where('miner', '=', filter.miner);
    if (filter.state) q = q.where('latest_state', '=', filter.state);
    const rows = await q.orderBy('miner').orderBy('number').limit(filter.limit ?? 10_000).offset(filter.offset ?? 0).execute();
    return rows.map(decodeSector);
  }

  /** The miner's sectors whose `kind` of submission waits for a batch, longest waiting first. */
  async queued(miner: number, kind: MessageKind, limit: number): Promise<SectorRecord[]> {
    const rows = await this.db.selectFrom('sectors').selectAll().where('stage', '=', QUEUED[kind]).where('miner', '=', miner).orderBy('queued_at').limit(limit).execute();
    return rows.map(decodeSector);
  }

  /** The latest `limit` events of a sector, oldest first. */
  async events(id: SectorID, limit: number): Promise<SectorEventRow[]> {
    const latest = await this.db.selectFrom('sector_events').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).orderBy('id', 'desc').limit(limit).execute();
    return latest.reverse();
  }

  /**
   * Logs a worker's state change and, while the sector is sealing, keeps it as the sector's latest state;
   * returns the sector as it was when the change was logged. Reports are not lifecycle transitions: they
   * are logged in every stage. ReportState is most of the sealer API's traffic, so concurrent reports share
   * one transaction: one read of their records, one commit.
   */
  async report(id: SectorID, req: ReportStateReq): Promise<ReportedSector> {
    const row = await this.reports.submit({ id, req, at: Date.now() });
    if (!row) throw notFound(id);
    return row;
  }

  private commitReports(reports: PendingReport[]): Promise<(ReportedSector | undefined)[]> {
    return this.tx('ReportState', async (trx) => {
      const rows = await trx
        .selectFrom('sectors')
        .select(['miner', 'number', 'status', 'plan', 'stage', 'abort_request', 'abort_reason', 'latest_state'])
        // Two IN lists use the (miner, number) key and compile cheaply; the few extra rows their cross product
        // may bring (another miner's sector with the same number) are never looked up below.
        .where('miner', 'in', [...new Set(reports.map((r) => r.id.Miner))])
        .where('number', 'in', [...new Set(reports.map((r) => r.id.Number))])
        .execute();
      const byKey = new Map(rows.map((r) => [`${r.miner}-${r.number}`, r]));
      const found = reports.map((r) => byKey.get(`${r.id.Miner}-${r.id.Number}`));
      const known: PendingReport[] = [];
      for (const [i, r] of reports.entries()) {
        const sector = found[i];
        if (sector !== undefined && !(await this.redelivered(trx, r, sector.latest_state))) known.push(r);
      }
      if (known.length > 0) {
        await trx
          .insertInto('sector_events')
          .values(
            known.map(({ id, req, at }) => ({
              miner: id.Miner,
              number: id.Number,
              at,
              worker_instance: req.Worker.Instance,
              worker_location: req.Worker.Location,
              prev: req.StateChange.Prev,
              next: req.StateChange.Next,
              event: req.StateChange.Event,
              failure_level: req.Failure?.Level ?? null,
              failure_desc: req.Failure?.Desc ?? null,
            })),
          )
          .execute();
      }
      // Within one batch only the last report of a sector decides its latest state. Rows are updated in key
      // order: another manager's batch locking some of the same rows in another order would deadlock with it.
      const latest = new Map(reports.filter((_, i) => found[i]?.status === 'sealing').map((r) => [sectorKey(r.id), r]));
      const ordered = [...latest.values()].sort((a, b) => a.id.Miner - b.id.Miner || a.id.Number - b.id.Number);
      for (const { id, req, at } of ordered) {
        await trx
          .updateTable('sectors')
          .set({ latest_state: req.StateChange.Next, worker_instance: req.Worker.Instance, worker_location: req.Worker.Location, updated_at: at })
          .where('miner', '=', id.Miner)
          .where('number', '=', id.Number)
          .where('status', '=', 'sealing')
          .execute();
      }
      return found;
    });
  }

  /**
   * A move the sector's log already ends with, from the same worker: a report sent again because its answer
   * was lost, or the last move a restarted worker repeats (it cannot know whether the report before its
   * death arrived). Logged once, the history stays one continuous chain even when a failure report came in
   * between. Only a move into the state the sector is already in needs the look back, so the common report
   * costs nothing more.
   */
  private async redelivered(trx: Tx, { id, req }: PendingReport, latest: string | null): Promise<boolean> {
    const { Prev, Next, Event } = req.StateChange;
    if (req.Failure !== null || Prev === Next || latest !== Next) return false;
    const last = await trx
      .selectFrom('sector_events')
      .select(['prev', 'next', 'event'])
      .where('miner', '=', id.Miner)
      .where('number', '=', id.Number)
      .where('worker_instance', '=', req.Worker.Instance)
      .whereRef('prev', '<>', 'next')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return last !== undefined && last.prev === Prev && last.next === Next && last.event === Event;
  }

  /** A newly numbered sealer sector; a number is never allocated twice. */
  async allocate(id: SectorID, proofType: number): Promise<void> {
    await this.allocateNext(id.Miner, proofType, async () => id.Number);
  }

  /**
   * A new sealer sector of `miner` under the number `take` draws in the same transaction (see
   * SectorNumbering.next): a number is used by exactly one sector, and a manager killed before the commit
   * leaves it to the next allocation. Returns the number, or null when `take` has none.
   */
  async allocateNext(miner: number, proofType: number, take: (trx: Tx) => Promise<number | null>): Promise<number | null> {
    const at = allocatedPosition();
    return this.tx('SectorAllocated', async (trx) => {
      const number = await take(trx);
      if (number === null) return null;
      const id = { Miner: miner, Number: number };
      const now = Date.now();
      const inserted = await trx
        .insertInto('sectors')
        .values({
          miner: id.Miner,
          number: id.Number,
          proof_type: proofType,
          status: STATUS_OF[at.stage],
          plan: at.plan,
          stage: at.stage,
          created_at: now,
          updated_at: now,
          worker_instance: null,
          worker_location: null,
          latest_state: null,
          abort_request: null,
          abort_reason: null,
          pieces: null,
          ticket: null,
          pre: null,
          pre_message: null,
          seed: null,
          proof: null,
          prove_message: null,
          persist_instance: null,
          upgrade: null,
          upgrade_message: null,
          queued_at: null,
        })
        .onConflict((oc) => oc.columns(['miner', 'number']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) {
        // The table allows SectorAllocated from no stage: this throws the refusal that names the sector's stage.
        const existing = await this.lockSector(trx, id);
        if (existing) nextPosition('SectorAllocated', existing, existing, existing.upgrade !== null);
        throw new Error(`sector ${sectorKey(id)} is allocated already`);
      }
      await this.logTransition(trx, id, 'SectorAllocated', null, at, null, now);
      return number;
    });
  }

  /**
   * Releases one sector that an allocation handed out before `before` and no worker has reported on since
   * (its worker died, or lost the answer with the manager that gave it): a new sector is aborted, a snap-up
   * leaves the CC sector as it was, a rebuild goes back to the queue (OrphanReleased). Of several managers
   * sweeping one database, one takes each orphan. Returns the sector as released, and why.
   */
  async releaseOrphan(before: number, reasonOf: (row: SectorRecord) => string): Promise<{ sector: SectorRecord; reason: string; piecesReleased: number } | undefined> {
    return this.tx('OrphanReleased', async (trx) => {
      const candidate = await this.lockFirst(
        trx
          .selectFrom('sectors')
          .selectAll()
          .where((eb) => eb.or(ORPHAN_FROM.map(({ plan, stages }) => eb.and([eb('plan', '=', plan), eb('stage', 'in', stages)]))))
          .where('latest_state', 'is', null)
          .where('updated_at', '<', before)
          .orderBy('updated_at')
          .limit(1),
      );
      if (!candidate) return undefined;
      return this.apply(trx, 'OrphanReleased', decodeSector(candidate), async (row) => {
        const reason = reasonOf(row);
        const { changes, releasesPieces } = abortOf(row.plan, reason);
        const piecesReleased = await this.releaseLinked(trx, row, releasesPieces);
        return { changes, desc: reason, result: { sector: row, reason, piecesReleased } };
      });
    });
  }

  /** Records the pieces `acquire` assigns to the sector (none: a CC sector), in one transaction with it. */
  async acquireDeals(id: SectorID, acquire: (trx: Tx) => Promise<SectorPieceV2[] | null>): Promise<SectorPieceV2[] | null> {
    return this.transition(id, 'DealsAcquired', async (trx) => {
      const pieces = await acquire(trx);
      return { changes: { pieces: pieces ?? [] }, desc: `${pieces?.length ?? 0} piece(s)`, result: pieces };
    });
  }

  async assignTicket(id: SectorID, ticket: Ticket): Promise<void> {
    await this.transition(id, 'TicketAssigned', async () => ({ changes: { ticket }, desc: `epoch ${ticket.Epoch}`, result: undefined }));
  }

  /**
   * Queues the pre-commit for its miner's batch; `onChain`: the chain holds it already (sent before a
   * crash), so it is recorded as sent and never sent again. The pieces are fixed with it.
   */
  async queuePreCommit(id: SectorID, pre: PreCommitOnChainInfo, pieces: SectorPieceV2[], onChain: boolean): Promise<void> {
    await this.transition(id, onChain ? 'PreCommitOnChain' : 'PreCommitQueued', async () => ({
      changes: { pre, pieces, pre_message: onChain ? ALREADY_ON_CHAIN : null, queued_at: Date.now() },
      result: undefined,
    }));
  }

  async assignSeed(id: SectorID, seed: Seed): Promise<void> {
    await this.transition(id, 'SeedAssigned', async () => ({ changes: { seed }, desc: `epoch ${seed.Epoch}`, result: undefined }));
  }

  async persisted(id: SectorID, instance: string): Promise<void> {
    await this.transition(id, 'Persisted', async () => ({ changes: { persist_instance: instance }, desc: instance, result: undefined }));
  }

  async queueProof(id: SectorID, proof: string): Promise<void> {
    await this.transition(id, 'ProofQueued', async () => ({ changes: { proof, prove_message: null, queued_at: Date.now() }, result: undefined }));
  }

  /**
   * Records a batch as sent: `insertMessage` writes its message row, and each of its sectors moves from
   * queued to sent with the message's id, in one transaction; a sector that left its queue meanwhile
   * (an abort) fails the whole batch, which the next round forms again without it.
   */
  async recordMessage(kind: MessageKind, miner: number, numbers: readonly number[], messageId: string, insertMessage: (trx: Tx) => Promise<void>): Promise<void> {
    await this.tx(SENT[kind], async (trx) => {
      await insertMessage(trx);
      // Locked in number order, as every transaction that locks several sectors does (no deadlock between managers).
      for (const number of [...numbers].sort((a, b) => a - b)) {
        const id = { Miner: miner, Number: number };
        const row = await this.lockSector(trx, id);
        if (!row) throw notFound(id);
        await this.apply(trx, SENT[kind], decodeSector(row), async () => ({ changes: { [MESSAGE_COLUMN[kind]]: messageId }, desc: `message ${messageId}`, result: undefined }));
      }
    });
  }

  /**
   * Finishes a sealer sector whose proof landed, or a rebuild (the sector goes back to the plan it was
   * sealed by): its pieces are sealed for good and its store reservation is freed with it.
   */
  async finalize(id: SectorID): Promise<void> {
    await this.transition(id, 'Finalized', async (trx) => {
      await this.linked.pieces.sealed(trx, id);
      await this.linked.stores.release(trx, id);
      return { result: undefined };
    });
  }

  /** An operator's abort, which reaches the worker at its next ReportState. Returns the record after it. */
  async requestAbort(id: SectorID, reason: string): Promise<SectorRecord> {
    return this.transition(id, 'AbortRequested', async (_trx, row) => ({ changes: { abort_request: reason }, desc: reason, result: { ...row, abort_request: reason } }));
  }

  /**
   * Drops what the sector's plan was doing: a sealer sector ends aborted with its reason; a snap-up or a
   * rebuild leaves the sector as it was on chain. Pieces it took go back to the queue, its reservation is
   * freed. `unlessEnded`: a sector another call ended meanwhile is left alone (returns null) instead of refused.
   */
  async abort(id: SectorID, reason: string, opts: { unlessEnded?: boolean } = {}): Promise<{ piecesReleased: number } | null> {
    return this.tx('Aborted', async (trx) => {
      const found = await this.lockSector(trx, id);
      if (!found) throw notFound(id);
      if (opts.unlessEnded && found.status !== 'sealing') return null;
      return this.apply(trx, 'Aborted', decodeSector(found), async (row) => {
        const { changes, releasesPieces } = abortOf(row.plan, reason);
        const piecesReleased = await this.releaseLinked(trx, row, releasesPieces);
        return { changes, desc: reason, result: { piecesReleased } };
      });
    });
  }

  /** Starts a snap-up of a finalized CC sector with the pieces `acquire` assigns; none: the sector stays as it is. */
  async startSnapUp(id: SectorID, upgrade: UpgradeRecord, acquire: (trx: Tx) => Promise<SectorPieceV2[] | null>): Promise<SectorPieceV2[] | null> {
    return this.tx('SnapUpAllocated', async (trx) => {
      const found = await this.lockSector(trx, id);
      if (!found) throw notFound(id);
      const row = decodeSector(found);
      // Checked before any piece is assigned: the pieces of a refused snap-up would be lost to the queue.
      nextPosition('SnapUpAllocated', row, row, row.upgrade !== null);
      const pieces = await acquire(trx);
      if (!pieces) return null;
      // No worker has reported under the new plan yet: until one does, the sector is an orphan candidate.
      return this.apply(trx, 'SnapUpAllocated', row, async () => ({ changes: { pieces, upgrade, upgrade_message: null, latest_state: null }, desc: `${pieces.length} piece(s)`, result: pieces }));
    });
  }

  async queueUpgrade(id: SectorID, submitted: NonNullable<UpgradeRecord['submitted']>): Promise<void> {
    await this.transition(id, 'UpgradeQueued', async (_trx, row) => ({
      changes: { upgrade: { ...(row.upgrade as UpgradeRecord), submitted }, queued_at: Date.now(), persist_instance: submitted.AccessInstance },
      result: undefined,
    }));
  }

  /** The update message failed in a way worth another try: the sector waits for the next batch. */
  async resendUpgrade(id: SectorID, why: string | null): Promise<void> {
    await this.transition(id, 'UpgradeResend', async () => ({ changes: { upgrade_message: null, queued_at: Date.now() }, desc: why, result: undefined }));
  }

  /** The chain took the update: the upgraded sector is finalized, its pieces sealed, its reservation freed. */
  async landUpgrade(id: SectorID, landedAt: number, desc: string): Promise<void> {
    await this.transition(id, 'UpgradeLanded', async (trx, row) => {
      await this.linked.pieces.sealed(trx, id);
      await this.linked.stores.release(trx, id);
      return { changes: { upgrade: { ...(row.upgrade as UpgradeRecord), landedAt } }, desc, result: undefined };
    });
  }

  async requestRebuild(id: SectorID): Promise<SectorRecord> {
    return this.transition(id, 'RebuildRequested', async (_trx, row) => ({ result: row }));
  }

  /** Hands the miner's longest-queued rebuild to a worker; of several managers, one takes each. */
  async startRebuild(miner: number): Promise<SectorRecord | undefined> {
    return this.tx('RebuildAllocated', async (trx) => {
      const candidate = await this.lockFirst(
        trx.selectFrom('sectors').selectAll().where('stage', '=', 'rebuild_queued').where('miner', '=', miner).where('pre', 'is not', null).orderBy('updated_at').limit(1),
      );
      if (!candidate) return undefined;
      return this.apply(trx, 'RebuildAllocated', decodeSector(candidate), async (row) => ({ changes: { latest_state: null }, result: { ...row, latest_state: null } }));
    });
  }

  /**
   * Records an event of the sector's life on chain (a fault declared, an extension...) in its history; unlike
   * other transitions it is logged each time, as each is a message or an observation of its own.
   */
  async recordLife(id: SectorID, name: LifeTransition, desc: string): Promise<void> {
    await this.tx(name, async (trx) => {
      const row = await this.lockSector(trx, id);
      if (!row) throw notFound(id);
      const at: LifecyclePosition = { plan: row.plan, stage: row.stage };
      await this.logTransition(trx, id, name, at, nextPosition(name, decodeSector(row), at, row.upgrade !== null), desc, Date.now());
    });
  }

  /** One transition of one sector in its own transaction. */
  private transition<R>(id: SectorID, name: TransitionName, body: (trx: Tx, row: SectorRecord) => Promise<Outcome<R>>): Promise<R> {
    return this.tx(name, async (trx) => {
      const row = await this.lockSector(trx, id);
      if (!row) throw notFound(id);
      return this.apply(trx, name, decodeSector(row), (r) => body(trx, r));
    });
  }

  /** Checks `name` against the table before `body` writes anything, then writes the row and its event. */
  private async apply<R>(trx: Tx, name: TransitionName, row: SectorRecord, body: (row: SectorRecord) => Promise<Outcome<R>>): Promise<R> {
    const id = idOf(row);
    const from: LifecyclePosition = { plan: row.plan, stage: row.stage };
    const to = nextPosition(name, row, from, row.upgrade !== null);
    const { changes = {}, desc = null, result } = await body(row);
    // Asked again for what is already so (a worker polling for deals, a repeated request): nothing to log.
    const same = to.plan === from.plan && to.stage === from.stage && Object.entries(changes).every(([column, value]) => isDeepStrictEqual(value, row[column as keyof SectorRecord]));
    if (same) return result;
    const now = Date.now();
    await trx
      .updateTable('sectors')
      .set({ ...encodeChanges(changes), plan: to.plan, stage: to.stage, status: STATUS_OF[to.stage], updated_at: now })
      .where('miner', '=', id.Miner)
      .where('number', '=', id.Number)
      .execute();
    await this.logTransition(trx, id, name, from, to, desc, now);
    return result;
  }

  private async logTransition(trx: Tx, id: SectorID, name: TransitionName, from: LifecyclePosition | null, to: LifecyclePosition, desc: string | null, at: number): Promise<void> {
    await trx
      .insertInto('sector_events')
      .values({
        miner: id.Miner,
        number: id.Number,
        at,
        worker_instance: MANAGER_EVENT_SOURCE,
        worker_location: null,
        prev: from && positionLabel(from),
        next: positionLabel(to),
        event: name,
        failure_level: null,
        failure_desc: desc,
      })
      .execute();
  }

  /** Frees the sector's reservation and, with `pieces`, gives its pieces back to the queue; returns how many. */
  private async releaseLinked(trx: Tx, row: SectorRecord, pieces: boolean): Promise<number> {
    const id = idOf(row);
    const released = pieces ? await this.linked.pieces.release(trx, id) : 0;
    await this.linked.stores.release(trx, id);
    return released;
  }

  /** The sector's row, locked until the transaction ends where the database has row locks. */
  private lockSector(trx: Tx, id: SectorID): Promise<SectorRow | undefined> {
    const q = trx.selectFrom('sectors').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number);
    return (this.dialect === 'postgres' ? q.forUpdate() : q).executeTakeFirst();
  }

  /** The first row of a candidate query that no other transaction holds, locked (SQLite: the first row). */
  private lockFirst(q: SelectQueryBuilder<Database, 'sectors', SectorRow>): Promise<SectorRow | undefined> {
    return (this.dialect === 'postgres' ? q.forUpdate().skipLocked() : q).executeTakeFirst();
  }
}

/** What an abort records, by the plan the sector was under, and whether the pieces it holds go back to the queue. */
function abortOf(plan: SectorPlan, reason: string): { changes: SectorChanges; releasesPieces: boolean } {
  switch (plan) {
    case 'sealer':
      return { changes: { abort_reason: reason, abort_request: null }, releasesPieces: true };
    case 'snapup':
      // The CC sector is what it was: no pieces, no upgrade.
      return { changes: { pieces: [], upgrade: null, upgrade_message: null, abort_request: null }, releasesPieces: true };
    case 'rebuild':
      // The pieces of a rebuilt sector are on chain in it: they stay sealed.
      return { changes: { abort_request: null }, releasesPieces: false };
    default: {
      const unhandled: never = plan;
      throw new Error(`no abort for plan ${String(unhandled)}`);
    }
  }
}
