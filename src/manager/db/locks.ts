import { sql, type Transaction } from 'kysely';
import type { ManagerDb } from './open.js';
import type { Database } from './schema.js';
import type { DbDialect } from './target.js';

/**
 * What several managers on one PostgreSQL database must not do at the same time, held by the database
 * (advisory locks), never by the process: a manager killed while it holds one loses its connection, and the
 * server releases the lock with it. On SQLite one manager owns the database (its home lock), and these cost
 * nothing.
 */

/** The first half of every advisory lock key the manager takes: keeps clear of other programs' keys on a shared server. */
const NAMESPACE = 0x5f1ee7;

/**
 * Runs `duty` unless another manager runs the same duty (`name`) right now, in which case it is skipped
 * and undefined returned: a background duty (a commitment batch, the upgrade watch) runs on every manager,
 * one at a time, and the one that found it busy simply tries again at its next turn. The lock is held by
 * one pooled connection for as long as the duty runs; the duty itself uses the pool as usual.
 */
export async function unlessBusy<T>(db: ManagerDb, dialect: DbDialect, name: string, duty: () => Promise<T>): Promise<T | undefined> {
  switch (dialect) {
    case 'sqlite':
      return duty();
    case 'postgres':
      return db.connection().execute(async (conn) => {
        const { rows } = await sql<{ got: boolean }>`select pg_try_advisory_lock(${NAMESPACE}, hashtext(${name})) as got`.execute(conn);
        if (!rows[0]?.got) return undefined;
        try {
          return await duty();
        } finally {
          await sql`select pg_advisory_unlock(${NAMESPACE}, hashtext(${name}))`.execute(conn);
        }
      });
  }
}

/**
 * Makes the rest of transaction `trx` the only one of its `name` on the database until it ends (waits for
 * another manager's to commit first): for a decision read from several rows, such as the free space of the
 * persist stores, that no row lock covers.
 */
export async function serializeIn(trx: Transaction<Database>, dialect: DbDialect, name: string): Promise<void> {
  switch (dialect) {
    case 'sqlite':
      return;
    case 'postgres':
      await sql`select pg_advisory_xact_lock(${NAMESPACE}, hashtext(${name}))`.execute(trx);
  }
}
