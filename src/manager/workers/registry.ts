import type { Selectable } from 'kysely';
import type { WorkerInfo } from '../../core/wire/sealer.js';
import type { ManagerDb } from '../db/open.js';
import type { WorkerPingsTable } from '../db/schema.js';

export type WorkerPingRow = Selectable<WorkerPingsTable>;

/** Workers as their pings describe them, keyed by instance name (a later ping replaces an earlier one). */
export class WorkerRegistry {
  constructor(private readonly db: ManagerDb) {}

  async ping(info: WorkerInfo): Promise<void> {
    const row = { name: info.Name, dest: info.Dest, version: info.Version, summary: JSON.stringify(info.Summary), last_ping: Date.now() };
    await this.db
      .insertInto('worker_pings')
      .values(row)
      .onConflict((oc) => oc.column('name').doUpdateSet({ dest: row.dest, version: row.version, summary: row.summary, last_ping: row.last_ping }))
      .execute();
  }

  list(page: { limit: number; offset: number }): Promise<WorkerPingRow[]> {
    return this.db.selectFrom('worker_pings').selectAll().orderBy('name').limit(page.limit).offset(page.offset).execute();
  }

  /** A worker by instance name, or else by the address it pings from. */
  async find(nameOrDest: string): Promise<WorkerPingRow | undefined> {
    return (
      (await this.db.selectFrom('worker_pings').selectAll().where('name', '=', nameOrDest).executeTakeFirst()) ??
      (await this.db.selectFrom('worker_pings').selectAll().where('dest', '=', nameOrDest).executeTakeFirst())
    );
  }
}
