import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { precreatePrivateFile } from '../../core/privateFiles.js';
import { AND_HOME, DatabaseRefused, isMigrationTable, refuseLost } from './refusal.js';
import type { Database } from './schema.js';

/** The manager's database file in its home. */
export const DATABASE_FILE = 'manager.db';

const RESTORE_FILE = `Restore ${DATABASE_FILE} from a backup`;

/**
 * Opens `<home>/manager.db` (SQLite, WAL, synchronous=NORMAL: a committed write survives a killed process)
 * after checking the file: one that is missing, empty, truncated, corrupt or another program's is refused,
 * never silently replaced.
 */
export function openSqlite(home: string): Kysely<Database> {
  const path = join(home, DATABASE_FILE);
  checkFile(home, path);
  // Created at 0600 before SQLite opens it: SQLite gives its -wal and -shm files the database's mode.
  precreatePrivateFile(path);
  let sqlite: SqliteDatabase.Database | undefined;
  try {
    sqlite = new SqliteDatabase(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('foreign_keys = ON');
    checkContents(home, path, sqlite);
  } catch (err) {
    sqlite?.close();
    if (err instanceof DatabaseRefused) throw err;
    throw new DatabaseRefused(`manager database ${path} cannot be used: ${(err as Error).message}. Restore it from a backup${AND_HOME}`);
  }
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: cachingPrepare(sqlite) }) });
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Checks the file before SQLite opens it (opening creates a missing file). Truncation is found exactly
 * and at no cost from the header: its page count × page size must fit in the file. The header's count is
 * only trusted when SQLite marks it valid (version-valid-for = change counter), and only without a WAL
 * that holds frames: a checkpoint cut short writes page 1 (the new count) before extending the file, and
 * the WAL replays the rest on open.
 */
function checkFile(home: string, path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DatabaseRefused(`manager database ${path} cannot be read: ${(err as Error).message}`);
    const lost = refuseLost(home, path, 'is missing', `${RESTORE_FILE} (if this home runs on PostgreSQL: pass --db, or set [db] url in manager.toml)`);
    if (lost) throw lost;
    return;
  }
  if (size === 0) {
    const lost = refuseLost(home, path, 'is empty (0 bytes)', RESTORE_FILE);
    if (lost) throw lost;
    return;
  }
  const header = Buffer.alloc(100);
  const fd = openSync(path, 'r');
  let read: number;
  try {
    read = readSync(fd, header, 0, header.length, 0);
  } finally {
    closeSync(fd);
  }
  const restore = `Restore it from a backup${AND_HOME}`;
  if (!header.subarray(0, Math.min(read, SQLITE_MAGIC.length)).equals(SQLITE_MAGIC.subarray(0, Math.min(read, SQLITE_MAGIC.length)))) {
    throw new DatabaseRefused(`manager database ${path} is not a SQLite database (it does not start with the SQLite header). ${restore}`);
  }
  if (read < header.length) throw new DatabaseRefused(`manager database ${path} is truncated: ${size} bytes, less than its 100-byte header. ${restore}`);
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65_536 : rawPageSize;
  const pages = header.readUInt32BE(28);
  const countValid = pages > 0 && header.readUInt32BE(24) === header.readUInt32BE(92);
  if (!countValid || walHasFrames(path)) return;
  if (size < pages * pageSize) {
    throw new DatabaseRefused(`manager database ${path} is truncated: its header says ${pages} pages of ${pageSize} bytes (${pages * pageSize} bytes), the file has ${size}. ${restore}`);
  }
}

function walHasFrames(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > 32;
  } catch {
    return false;
  }
}

/**
 * Refuses a database with pages SQLite cannot read, and one that holds another program's tables, or
 * nothing, in a home that has run. `quick_check` reads every page once: 0.3 s for a 105 MB database
 * (1.2 million event rows) on a loaded 2-core machine, a small price at start-up for never serving from a
 * damaged file.
 */
function checkContents(home: string, path: string, sqlite: SqliteDatabase.Database): void {
  const problems = (sqlite.pragma('quick_check') as { quick_check: string }[]).map((r) => r.quick_check).filter((r) => r !== 'ok');
  if (problems.length > 0) {
    throw new DatabaseRefused(`manager database ${path} is damaged (${problems.slice(0, 3).join('; ')}). Restore it from a backup${AND_HOME}`);
  }
  const tables = (sqlite.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
  if (tables.some(isMigrationTable)) return;
  if (tables.length > 0) {
    const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
    throw new DatabaseRefused(`manager database ${path} is another program's SQLite database (tables ${shown}, no sealfleet migrations): point --home at the manager's own home, or restore ${DATABASE_FILE} from a backup`);
  }
  const lost = refuseLost(home, path, 'holds no tables', RESTORE_FILE);
  if (lost) throw lost;
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
