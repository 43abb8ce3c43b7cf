import type { ManagerDb } from '../db/open.js';
import type { MinerConfig } from '../config.js';

/**
 * Sector numbers per miner. A number is taken by a conditional update of the miner's counter (it moves
 * from the number before to this one, or nothing happens) in the transaction that records the sector, so
 * of concurrent allocations (several managers on one PostgreSQL database included) one gets each number,
 * a number is used by exactly one sector (a manager killed before committing leaves it to the next
 * allocation), and a number once used is never handed out again, whatever happens to its sector. The only
 * numbers without a sector are the ones the chain had allocated already.
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

  /** The number the miner's next sector gets unless another allocation takes it first, or null past its max_number. */
  async peek(miner: MinerConfig): Promise<number | null> {
    const next = (await this.last(miner.id)) + 1;
    return miner.sector.max_number > 0 && next > miner.sector.max_number ? null : next;
  }

  /**
   * Takes `number` if it is still the miner's next one, in `db` (the transaction recording its sector; by
   * itself for a number the chain has); false if another allocation took it.
   */
  async take(miner: number, number: number, db: ManagerDb = this.db): Promise<boolean> {
    const res = await db.updateTable('sector_numbers').set({ last: number }).where('miner', '=', miner).where('last', '=', number - 1).executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async last(miner: number): Promise<number> {
    const row = await this.db.selectFrom('sector_numbers').select('last').where('miner', '=', miner).executeTakeFirst();
    return row ? Number(row.last) : 0;
  }
}
