import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import type { SectorStore } from '../sectors/store.js';
import type { PersistStores } from '../stores.js';

/** Where a sector's replica is: its files, and the persist store they are in (a worker's prover finds them by its name). */
export interface SectorReplica {
  sealed: string;
  cache: string;
  store: string;
  /** The replica is a landed update's (`update/`, `update-cache/`). */
  upgrade: boolean;
}

/** A sector's replica as the prover reads it, or why it cannot be proven. */
export type SectorFilesCheck = ({ ok: true } & SectorReplica) | { ok: false; reason: string };

/**
 * Checks, before a deadline is proven, that each sector's sealed file and cache are in its persist store and
 * readable: a sector that fails is left out of the proof and declared faulty, with the reason in its history.
 */
export class SectorFiles {
  constructor(
    private readonly records: SectorStore,
    private readonly stores: PersistStores,
  ) {}

  async check(miner: number, number: number): Promise<SectorFilesCheck> {
    const id = { Miner: miner, Number: number };
    const record = await this.records.get(id);
    if (!record) return { ok: false, reason: 'this manager has no record of the sector, so no persist store to read it from' };
    // The replica on chain: a landed update's new one, else the sealed one (kept while a snap-up is under way).
    const upgraded = record.upgrade?.landedAt !== undefined;
    const store = upgraded ? (record.upgrade?.submitted?.AccessInstance ?? record.persist_instance) : (record.upgrade?.accessInstance ?? record.persist_instance);
    if (store === null) return { ok: false, reason: 'the sector has no persist store recorded' };
    let paths: { sealed: string; cache: string };
    try {
      paths = this.stores.sectorPaths(store, id, upgraded);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
    const found = await this.stores.hasSectorFiles(store, id, upgraded);
    if (!found.ok) return { ok: false, reason: `missing in persist store "${store}": ${found.missing.join(', ')}` };
    try {
      await access(paths.sealed, constants.R_OK);
      await access(paths.cache, constants.R_OK | constants.X_OK);
    } catch (err) {
      return { ok: false, reason: `unreadable in persist store "${store}": ${(err as Error).message}` };
    }
    return { ok: true, ...paths, store, upgrade: upgraded };
  }
}
