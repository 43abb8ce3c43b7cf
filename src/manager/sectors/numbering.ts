import type { ManagerDb } from '../db/open.js';
import type { MinerConfig } from '../config.js';

/**
 * Sector numbers per miner: handed out by one atomic `update … returning` in the transaction that records
 * the sector, so concurrent callers (and several managers on one PostgreSQL database) never get the same
 * number, each number is used by exactly one sector (a manager killed before the commit leaves it to the
 * next allocation), and a number once used is never handed out again, whatever happens to its sector.
 */
export class SectorNumbering {
  constructor(private readonly db: ManagerDb) {}

  /** Makes sure the counter exists and is not below the miner's configured init_number. */
  async prepare(miners: readonly MinerConfig[]): Promise<void> {
    for (const m of miners) {
      await this.db.insertInto('sector_numbers').values({ miner: m.id, last: m.sector.init_number }).onConflict((oc) => oc.column('miner').doNothing()).execute();
      await this.db.updateTable('sector_numbers').set({ last: m.sector.init_number }).where('miner', '=', m.id).where('last', '<', m.sector.init_number).execute();
    }
  }

  /** The next number for the miner, drawn in `db` (the transaction recording its sector), or null when it has reached its max_number. */
  async next(miner: MinerConfig, db: ManagerDb): Promise<number | null> {
    let q = db.updateTable('sector_numbers').set((eb) => ({ last: eb('last', '+', 1) })).where('miner', '=', miner.id);
    if (miner.sector.max_number > 0) q = q.where('last', '<', miner.sector.max_number);
    const row = await q.returning('last').executeTakeFirst();
    return row ? Number(row.last) : null;
  }

  async last(miner: number): Promise<number> {
    const row = await this.db.selectFrom('sector_numbers').select('last').where('miner', '=', miner).executeTakeFirst();
    return row ? Number(row.last) : 0;
  }
}
