import type { Selectable, Updateable } from 'kysely';
import { RpcError } from '../../core/rpc/errors.js';
import { formatSectorId } from '../../core/sectorId.js';
import { SECTOR_STATE_NOT_FOUND, type ReportStateReq, type SectorID } from '../../core/wire/sealer.js';
import type { ManagerDb } from '../db/open.js';
import type { SectorEventsTable, SectorsTable } from '../db/schema.js';

export type SectorRow = Selectable<SectorsTable>;
export type SectorEventRow = Selectable<SectorEventsTable>;
export type SectorPatch = Omit<Updateable<SectorsTable>, 'miner' | 'number' | 'created_at'>;

export const sectorKey = (id: SectorID): string => formatSectorId({ miner: id.Miner, number: id.Number });

/** The manager's record of every sector it numbered, and each sector's event log. */
export class SectorRecords {
  constructor(private readonly db: ManagerDb) {}

  get(id: SectorID): Promise<SectorRow | undefined> {
    return this.db.selectFrom('sectors').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).executeTakeFirst();
  }

  /** The record, or the error damocles workers take as "abort this sector". */
  async require(id: SectorID): Promise<SectorRow> {
    const row = await this.get(id);
    if (!row) throw new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector state not found (${sectorKey(id)})`);
    return row;
  }

  /** The record while a worker owns it; finalized or aborted sectors refuse sealing calls the same way. */
  async requireSealing(id: SectorID): Promise<SectorRow> {
    const row = await this.require(id);
    if (row.status !== 'sealing') {
      throw new RpcError(SECTOR_STATE_NOT_FOUND, `error code ${SECTOR_STATE_NOT_FOUND}: sector ${sectorKey(id)} is ${row.status}`);
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
   * Takes one sealer sector of these miners that nobody has touched since `before` and no worker ever
   * reported on (its worker died between allocation and recording it); the claim touches it, so it is
   * handed out once.
   */
  async claimOrphan(miners: number[], before: number): Promise<SectorRow | undefined> {
    if (miners.length === 0) return undefined;
    return this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('sectors')
        .selectAll()
        .where('status', '=', 'sealing')
        .where('plan', '=', 'sealer')
        .where('latest_state', 'is', null)
        .where('abort_request', 'is', null)
        .where('miner', 'in', miners)
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

  /** Appends one ReportState to the sector's history and mirrors its latest state on the record. */
  async report(id: SectorID, req: ReportStateReq, mirror: boolean): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('sector_events')
        .values({
          miner: id.Miner,
          number: id.Number,
          at: Date.now(),
          worker_instance: req.Worker.Instance,
          worker_location: req.Worker.Location,
          prev: req.StateChange.Prev,
          next: req.StateChange.Next,
          event: req.StateChange.Event,
          failure_level: req.Failure?.Level ?? null,
          failure_desc: req.Failure?.Desc ?? null,
        })
        .execute();
      if (mirror) {
        await trx
          .updateTable('sectors')
          .set({ latest_state: req.StateChange.Next, worker_instance: req.Worker.Instance, worker_location: req.Worker.Location, updated_at: Date.now() })
          .where('miner', '=', id.Miner)
          .where('number', '=', id.Number)
          .execute();
      }
    });
  }

  /** Records what the manager itself did to a sector (operator abort, chain outcome) in the same log. */
  async note(id: SectorID, event: string, desc: string | null = null): Promise<void> {
    await this.db
      .insertInto('sector_events')
      .values({ miner: id.Miner, number: id.Number, at: Date.now(), worker_instance: 'manager', worker_location: null, prev: null, next: null, event, failure_level: null, failure_desc: desc })
      .execute();
  }

  events(id: SectorID): Promise<SectorEventRow[]> {
    return this.db.selectFrom('sector_events').selectAll().where('miner', '=', id.Miner).where('number', '=', id.Number).orderBy('id').execute();
  }

  list(filter: { status?: SectorRow['status']; miner?: number; state?: string; plan?: SectorRow['plan']; rebuildRequested?: boolean; limit?: number }): Promise<SectorRow[]> {
    let q = this.db.selectFrom('sectors').selectAll();
    if (filter.status) q = q.where('status', '=', filter.status);
    if (filter.plan) q = q.where('plan', '=', filter.plan);
    if (filter.rebuildRequested) q = q.where('rebuild_requested', '=', 1);
    if (filter.miner !== undefined) q = q.where('miner', '=', filter.miner);
    if (filter.state) q = q.where('latest_state', '=', filter.state);
    return q.orderBy('miner').orderBy('number').limit(filter.limit ?? 10_000).execute();
  }
}
