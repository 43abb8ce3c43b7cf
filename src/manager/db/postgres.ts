import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../../core/log.js';
import { DatabaseRefused, isMigrationTable, refuseLost } from './refusal.js';
import type { Database } from './schema.js';
import { redactDbUrl } from './target.js';

/** `int8` (bigint columns, count()) and `numeric` (sum() of bigints): pg hands both over as text. */
const INT8_OID = 20;
const NUMERIC_OID = 1700;

/**
 * Every integer the manager stores (unix ms, sector numbers, sizes) is below 2^53, so it reads back as a
 * number; a value a number cannot hold exactly fails the query rather than coming back rounded.
 */
function exactInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new RangeError(`the database returned ${text}, which is not an integer a JavaScript number holds exactly (at most ±${Number.MAX_SAFE_INTEGER}): refusing to round it`);
  return n;
}

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID || oid === NUMERIC_OID ? exactInteger : pg.types.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Opens a pool on a PostgreSQL database and checks it before any migration: a database holding another
 * program's tables is refused, and so is an empty one for a home that has run (its cluster is elsewhere).
 * `password` (from `[db] password_file`) goes to the driver only, never into a message; without one, the
 * driver takes it from the URL, `PGPASSWORD` or `~/.pgpass`.
 */
export async function openPostgres(home: string, url: string, password: string | undefined, log: Logger): Promise<Kysely<Database>> {
  const shown = redactDbUrl(url);
  const pool = new pg.Pool({
    // A query parameter wins over the URL's user info in the driver's parsing.
    connectionString: password === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}password=${encodeURIComponent(password)}`,
    max: 10,
    connectionTimeoutMillis: 15_000,
    application_name: 'sealfleet-manager',
    types,
  });
  // A connection that breaks while idle (server restart, network) is dropped by the pool; unheard, the
  // error event would end the process.
  pool.on('error', (err) => log.warn({ err }, `an idle connection to manager database ${shown} failed: the pool opens a new one when needed`));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  try {
    const { rows } = await sql<{ table_name: string }>`select table_name from information_schema.tables where table_schema = current_schema() order by table_name`.execute(db);
    const tables = rows.map((r) => r.table_name);
    if (tables.some(isMigrationTable)) return db;
    if (tables.length > 0) {
      const listed = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
      throw new DatabaseRefused(`manager database ${shown} is another program's database (tables ${listed}, no sealfleet migrations): point --db or [db] url at the manager's own database`);
    }
    const lost = refuseLost(home, shown, 'holds no tables', 'Point --db or [db] url at the database this home ran on, or restore that database from a backup');
    if (lost) throw lost;
    return db;
  } catch (err) {
    await db.destroy();
    if (err instanceof DatabaseRefused) throw err;
    throw new Error(`cannot use manager database ${shown}: ${describe(err)} (check that the server runs, and the URL and the credentials)`);
  }
}

/** A connection error's text: node gives an AggregateError with no message when every address refused. */
function describe(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') return err.errors.map(describe).join('; ');
  if (err instanceof Error) return err.message || ((err as NodeJS.ErrnoException).code ?? err.name);
  return String(err);
}
