import { join } from 'node:path';
import { formatSectorId } from '../core/sectorId.js';

/** Where a sector's files live under a thread's location, and under a persist store (damocles' layout). */
export function sectorPaths(location: string, sector: { miner: number; number: number }) {
  const name = formatSectorId(sector);
  const data = join(location, 'data');
  return {
    name,
    staged: join(data, 'unsealed', name),
    cache: join(data, 'cache', name),
    sealed: join(data, 'sealed', name),
    updateStaged: join(data, 'update-unsealed', name),
    update: join(data, 'update', name),
    updateCache: join(data, 'update-cache', name),
    data,
  };
}

export function storePaths(storePath: string, sector: { miner: number; number: number }) {
  const name = formatSectorId(sector);
  return {
    sealed: join(storePath, 'sealed', name),
    cache: join(storePath, 'cache', name),
    update: join(storePath, 'update', name),
    updateCache: join(storePath, 'update-cache', name),
  };
}
