import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writePrivateFileAtomic } from '../../core/privateFiles.js';
import type { ManagerDb } from './open.js';
import { CLUSTER_ID_FILE, DatabaseRefused } from './refusal.js';

/**
 * Ties a home to the cluster its database holds. A home's first start records the database's cluster id in
 * `<home>/cluster-id` (a new home joining a shared database adopts the id there); from then on a database
 * of another cluster is refused: this home's pieces, tokens and sector numbers belong to its own cluster.
 * Returns the cluster id.
 */
export async function checkCluster(db: ManagerDb, home: string, shown: string): Promise<string> {
  const row = await db.selectFrom('cluster').select('id').executeTakeFirst();
  if (!row) throw new DatabaseRefused(`manager database ${shown} has lost its cluster id (the cluster table is empty): restore the database from a backup`);
  const file = join(home, CLUSTER_ID_FILE);
  const recorded = readRecorded(file);
  if (recorded === undefined) {
    writePrivateFileAtomic(file, `${row.id}\n`);
    return row.id;
  }
  if (recorded !== row.id) {
    throw new DatabaseRefused(
      `manager database ${shown} holds cluster ${row.id}, but this home ran against cluster ${recorded} (${file}): refusing to serve another cluster's ` +
        `sectors with this home's pieces and tokens. Point it at cluster ${recorded}'s database, or start a new --home to join cluster ${row.id}`,
    );
  }
  return row.id;
}

function readRecorded(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DatabaseRefused(`cannot read ${file}: ${(err as Error).message}`);
  }
}
