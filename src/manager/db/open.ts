import { join } from 'node:path';
import type { Kysely } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import type { Logger } from '../../core/log.js';
import { checkCluster } from './cluster.js';
import { migrations } from './migrations.js';
import { openPostgres } from './postgres.js';
import type { Database } from './schema.js';
import { DATABASE_FILE, openSqlite } from './sqlite.js';
import { describeTarget, type DatabaseTarget } from './target.js';

export type ManagerDb = Kysely<Database>;

/**
 * Opens the manager's database, the embedded SQLite file `<home>/manager.db` or a PostgreSQL database, and
 * brings its schema up to date; callers never know which one it is.
 *
 * A database that is missing, empty, damaged, another program's or another cluster's is refused, never
 * silently replaced: a manager on an empty database answers "unknown sector" for every sector in flight and
 * hands out numbers the chain already has. A new home (nothing in it shows a manager ran there) starts on a
 * new database, or joins the cluster of a shared one, with no flag. There is deliberately no flag to start
 * over inside a home that has run: its secret, tokens and pieces belong to the lost database, and a new home
 * is the one clean way to start over.
 *
 * Several managers may open one PostgreSQL database at once: the migrator serialises them on a lock, and
 * the second finds the schema up to date.
 */
export async function openDatabase(home: string, target: DatabaseTarget, log: Logger): Promise<ManagerDb> {
  const shown = describeTarget(target, join(home, DATABASE_FILE));
  let db: ManagerDb;
  switch (target.kind) {
    case 'sqlite':
      db = openSqlite(home);
      break;
    case 'postgres':
      db = await openPostgres(home, target.url, target.password, log);
      break;
  }
  try {
    const provider: MigrationProvider = { getMigrations: async () => migrations(target.kind) };
    const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
    const failed = results?.find((r) => r.status === 'Error');
    if (error || failed) {
      throw new Error(`cannot migrate manager database ${shown}: ${failed ? `migration ${failed.migrationName} failed: ` : ''}${(error as Error | undefined)?.message ?? 'unknown error'}`);
    }
    const cluster = await checkCluster(db, home, shown);
    log.info({ database: shown, cluster }, 'manager database open');
    return db;
  } catch (err) {
    await db.destroy();
    throw err;
  }
}
