import { statfs, stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatSectorId } from '../core/sectorId.js';
import type { SectorID, StoreBasicInfo } from '../core/wire/sealer.js';
import type { PersistStoreConfig } from './config.js';
import type { Transaction } from 'kysely';
import type { ManagerDb } from './db/open.js';
import { serializeIn } from './db/locks.js';
import type { Database } from './db/schema.js';
import type { DbDialect } from './db/target.js';

/**
 * Persist stores: where workers move finished sector files. The manager reserves space for a sector
 * before the worker copies (weighted random among the stores with room), and checks the files afterwards.
 */
export class PersistStores {
  constructor(
    private readonly db: ManagerDb,
    private readonly stores: readonly PersistStoreConfig[],
    private readonly dialect: DbDialect,
  ) {}

  basicInfo(name: string): StoreBasicInfo | null {
    const s = this.stores.find((x) => x.name === name);
    return s ? toBasic(s) : null;
  }

  /**
   * A store with room for `size` bytes for this sector among `candidates` (all when empty), or null when
   * none has room. Asking again with the same size returns the same store.
   */
  async reserve(sector: SectorID, size: number, candidates: readonly string[]): Promise<StoreBasicInfo | null> {
    return this.db.transaction().execute(async (trx) => {
      // Free space is read from every reservation: two managers deciding at once would both count the same room.
      await serializeIn(trx, this.dialect, 'persist-reservations');
      const usable = this.stores.filter(
        (s) =>
          !s.read_only &&
          !s.deny_miners.includes(sector.Miner) &&
          (s.allow_miners.length === 0 || s.allow_miners.includes(sector.Miner)) &&
          (candidates.length === 0 || candidates.includes(s.name)),
      );
      const mine = await trx.selectFrom('reservations').selectAll().where('miner', '=', sector.Miner).where('number', '=', sector.Number).execute();
      const same = mine.find((r) => Number(r.size) === size && usable.some((s) => s.name === r.store));
      if (same) return toBasic(usable.find((s) => s.name === same.store) as PersistStoreConfig);
      const withRoom: { store: PersistStoreConfig; weight: number }[] = [];
      for (const s of usable) {
        const reserved = await trx.selectFrom('reservations').select((eb) => eb.fn.sum<number>('size').as('total')).where('store', '=', s.name).executeTakeFirst();
        const free = await freeBytes(s.path);
        if (free >= Number(reserved?.total ?? 0) + size) withRoom.push({ store: s, weight: s.weight || 1 });
      }
      if (withRoom.length === 0) return null;
      let pick = Math.random() * withRoom.reduce((sum, s) => sum + s.weight, 0);
      const chosen = withRoom.find((s) => (pick -= s.weight) < 0) ?? (withRoom[withRoom.length - 1] as (typeof withRoom)[number]);
      await trx.deleteFrom('reservations').where('miner', '=', sector.Miner).where('number', '=', sector.Number).execute();
      await trx.insertInto('reservations').values({ store: chosen.store.name, miner: sector.Miner, number: sector.Number, size, at: Date.now() }).execute();
      return toBasic(chosen.store);
    });
  }

  /** Frees the sector's reservation, in the transaction that ends its sealing. */
  async release(trx: Transaction<Database>, sector: SectorID): Promise<void> {
    await trx.deleteFrom('reservations').where('miner', '=', sector.Miner).where('number', '=', sector.Number).execute();
  }

  /** Where the sector's sealed file and cache directory are in the store (upgraded sectors: their new replica). */
  sectorPaths(instance: string, sector: SectorID, upgrade: boolean): { sealed: string; cache: string } {
    const s = this.stores.find((x) => x.name === instance);
    if (!s) throw new Error(`persist store "${instance}" is not configured (known: ${this.stores.map((x) => x.name).join(', ') || 'none'})`);
    const id = formatSectorId({ miner: sector.Miner, number: sector.Number });
    return { sealed: join(s.path, upgrade ? 'update' : 'sealed', id), cache: join(s.path, upgrade ? 'update-cache' : 'cache', id) };
  }

  /**
   * Whether the sealed file and the cache files of the sector are in the store (upgraded sectors under
   * `update/` and `update-cache/`). Unknown store names are the caller's error.
   */
  async hasSectorFiles(instance: string, sector: SectorID, upgrade: boolean): Promise<{ ok: boolean; missing: string[] }> {
    const { sealed, cache } = this.sectorPaths(instance, sector, upgrade);
    const missing: string[] = [];
    if (!(await isFile(sealed))) missing.push(sealed);
    const cacheFiles = await readdir(cache).catch(() => null);
    if (!cacheFiles) missing.push(cache);
    else {
      for (const f of upgrade ? ['p_aux'] : ['p_aux', 't_aux']) if (!cacheFiles.includes(f)) missing.push(join(cache, f));
      if (!cacheFiles.some((f) => f.startsWith('sc-02-data-tree-r-last'))) missing.push(join(cache, 'sc-02-data-tree-r-last*.dat'));
    }
    return { ok: missing.length === 0, missing };
  }
}

function toBasic(s: PersistStoreConfig): StoreBasicInfo {
  return { Name: s.name, Path: s.path, Strict: false, ReadOnly: s.read_only, Weight: s.weight, Meta: {} };
}

async function freeBytes(path: string): Promise<number> {
  try {
    const fs = await statfs(path);
    return fs.bavail * fs.bsize;
  } catch {
    return 0;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
