import type { Selectable, Updateable } from 'kysely';
import { RpcError } from '../../core/rpc/errors.js';
import { formatSectorId } from '../../core/sectorId.js';
import { SECTOR_STATE_NOT_FOUND, type ReportStateReq, type SectorID } from '../../core/wire/sealer.js';
import type { SectorEnded } from '../../core/wire/sectorEnded.js';
import { GroupCommit } from '../db/groupCommit.js';
import type { ManagerDb } from '../db/open.js';
import type { SectorEventsTable, SectorsTable } from '../db/schema.js';

export type SectorRow = Selectable<SectorsTable>;
export type SectorEventRow = Selectable<SectorEventsTable>;
export type SectorPatch = Omit<Updateable<SectorsTable>, 'miner' | 'number' | 'created_at'>;

interface PendingReport {
  id: SectorID;
  req: ReportStateReq;
  at: number;
}

export const sectorKey = (id: SectorID): string => formatSectorId({ miner: id.Miner, number: id.Number });

/** A sector this manager has no record of: the worker pauses on it, it does not drop the sector. */
const notFound = (id: SectorID): RpcError =>
  new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector state not found (${sectorKey(id)}): this manager has no record of the sector`);

/** Abort reasons of sectors the orphan sweep released start with this. */
export const ORPHAN_REASON = 'orphaned: ';
export const isOrphanRelease = (row: Pick<SectorRow, 'status' | 'abort_reason'>): boolean =>
  row.status === 'aborted' && (row.abort_reason?.startsWith(ORPHAN_REASON) ?? false);

/** The manager's record of every sector it numbered, and each sector's event log. */
export class SectorRecords {
  private readonly reports = new GroupCommit<PendingReport, SectorRow | undefined>((batch) => this.commitReports(batch), 200);

  constructor(private readonly db: ManagerDb) {}

  get(id: SectorID): Promise<SectorRow | undefined> {
    return this.db.selectFrom('sectors').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).executeTakeFirst();
  }

  /** The record, or the error damocles workers take as "abort this sector" (ours pause: see SectorEnded). */
  async require(id: SectorID): Promise<SectorRow> {
    const row = await this.get(id);
    if (!row) throw notFound(id);
    return row;
  }

  /** The record while a worker owns it; finalized or aborted sectors refuse sealing calls the same way. */
  async requireSealing(id: SectorID): Promise<SectorRow> {
    const row = await this.require(id);
    if (row.status !== 'sealing') {
      const data: SectorEnded = { Known: true, Status: row.status, Reason: row.abort_reason };
      throw new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector ${sectorKey(id)} is ${row.status}${row.abort_reason ? ` (${row.abort_reason})` : ''}`, data);
    }
    return row;
  }

  async create(row: Pick<SectorRow, 'miner' | 'number' | 'proof_type' | 'plan'> & Partial<SectorRow>): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('sectors')
      .values({
        status: 'sealing',
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
        rebuild_requested: 0,
        ...row,
      })
      .execute();
  }

  /**
   * Takes one sealer sector that nobody has touched since `before` and no worker ever reported on (its
   * worker died, or lost the answer, between allocation and recording it), for the orphan sweep to
   * release. The claim touches the row, so of several managers sweeping one database only one takes it.
   */
  async claimOrphan(before: number): Promise<SectorRow | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('sectors')
        .selectAll()
        .where('status', '=', 'sealing')
        .where('plan', '=', 'sealer')
        .where('latest_state', 'is', null)
        .where('updated_at', '<', before)
        .orderBy('updated_at')
        .limit(1)
        .executeTakeFirst();
      if (!row) return undefined;
      const claimed = await trx
        .updateTable('sectors')
        .set({ updated_at: Date.now() })
        .where('miner', '=', row.miner)
        .where('number', '=', row.number)
        .where('updated_at', '=', row.updated_at)
        .executeTakeFirst();
      return Number(claimed.numUpdatedRows) === 1 ? row : undefined;
    });
  }

  async update(id: SectorID, patch: SectorPatch): Promise<void> {
    await this.db
      .updateTable('sectors')
      .set({ ...patch, updated_at: Date.now() })
      .where('miner', '=', id.Miner)
      .where('number', '=', id.Number)
      .execute();
  }

  /**
   * Logs a worker's state change and, while the sector is sealing, keeps it as the sector's latest state;
   * returns the record as it was when the change was logged. ReportState is most of the sealer API's
   * traffic, so concurrent reports share one transaction: one read of their records, one commit.
   */
  async report(id: SectorID, req: ReportStateReq): Promise<SectorRow> {
    const row = await this.reports.submit({ id, req, at: Date.now() });
    if (!row) throw notFound(id);
    return row;
  }

  private commitReports(reports: PendingReport[]): Promise<(SectorRow | undefined)[]> {
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('sectors')
        .selectAll()
        // Two IN lists use the (miner, number) key and compile cheaply; the few extra rows their cross product
        // may bring (another miner's sector with the same number) are never looked up below.
        .where('miner', 'in', [...new Set(reports.map((r) => r.id.Miner))])
        .where('number', 'in', [...new Set(reports.map((r) => r.id.Number))])
        .execute();
      const byKey = new Map(rows.map((r) => [`${r.miner}-${r.number}`, r]));
      const found = reports.map((r) => byKey.get(`${r.id.Miner}-${r.id.Number}`));
      const known = reports.filter((_, i) => found[i] !== undefined);
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
      // Within one batch only the last report of a sector decides its latest state.
      const latest = new Map(reports.filter((_, i) => found[i]?.status === 'sealing').map((r) => [sectorKey(r.id), r]));
      for (const { id, req, at } of latest.values()) {
        await trx
          .updateTable('sectors')
          .set({ latest_state: req.StateChange.Next, worker_instance: req.Worker.Instance, worker_location: req.Worker.Location, updated_at: at })
          .where('miner', '=', id.Miner)
          .where('number', '=', id.Number)
          .execute();
      }
      return found;
    });
  }

  /** Records what the manager itself did to a sector (operator abort, chain outcome) in the same log. */
  async note(id: SectorID, event: string, desc: string | null = null): Promise<void> {
    await this.db
      .insertInto('sector_events')
      .values({ miner: id.Miner, number: id.Number, at: Date.now(), worker_instance: 'manager', worker_location: null, prev: null, next: null, event, failure_level: null, failure_desc: desc })
      .execute();
  }

  /** The latest `limit` events of a sector, oldest first. */
  async events(id: SectorID, limit: number): Promise<SectorEventRow[]> {
    const latest = await this.db.selectFrom('sector_events').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).orderBy('id', 'desc').limit(limit).execute();
    return latest.reverse();
  }

  list(filter: { status?: SectorRow['status']; miner?: number; state?: string; plan?: SectorRow['plan']; rebuildRequested?: boolean; limit?: number; offset?: number }): Promise<SectorRow[]> {
    let q = this.db.selectFrom('sectors').selectAll();
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.plan) q = q.where('plan', '=', filter.plan);
    if (filter.rebuildRequested) q = q.where('rebuild_requested', '=', 1);
    if (filter.miner !== undefined) q = q.where('miner', '=', filter.miner);
    if (filter.state) q = q.where('latest_state', '=', filter.state);
    return q.orderBy('miner').orderBy('number').limit(filter.limit ?? 10_000).offset(filter.offset ?? 0).execute();
  }
}
