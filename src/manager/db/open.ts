import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import { MIGRATIONS } from './migrations.js';
import type { Database } from './schema.js';

export type ManagerDb = Kysely<Database>;

/**
 * Opens the manager database at `path` (SQLite, WAL, synchronous=NORMAL: a committed write survives a
 * killed process) and brings its schema up to date. A PostgreSQL deployment swaps the dialect here only.
 */
export async function openDatabase(path: string): Promise<ManagerDb> {
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('foreign_keys = ON');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingPrepare(sqlite) }) });
  const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    await db.destroy();
    throw new Error(`cannot migrate manager database ${path}: ${failed ? `migration ${failed.migrationName} failed: ` : ''}${(error as Error | undefined)?.message ?? 'unknown error'}`);
  }
  return db;
}

/**
 * Kysely's SQLite driver prepares every statement anew; preparing costs more than running the small
 * queries of the sealer API, so statements are kept by their SQL text (the set of distinct queries is small
 * and fixed by the code).
 */
function cachingPrepare(sqlite: SqliteDatabase.Database): SqliteDatabase.Database {
  const cache = new Map<string, SqliteDatabase.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return new Proxy(sqlite, {
    get(target, prop, receiver) {
      if (prop === 'prepare') {
        return (source: string) => {
          let stmt = cache.get(source);
          if (!stmt) {
            stmt = prepare(source);
            cache.set(source, stmt);
          }
          return stmt;
        };
      }
      const value: unknown = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
