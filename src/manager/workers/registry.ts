import type { Selectable } from 'kysely';
import { RPC_CODES, RpcError } from '../../core/rpc/errors.js';
import type { Caller } from '../../core/rpc/server.js';
import type { WorkerInfo } from '../../core/wire/sealer.js';
import type { ManagerDb } from '../db/open.js';
import type { WorkerPingsTable } from '../db/schema.js';

export type WorkerPingRow = Selectable<WorkerPingsTable>;

/**
 * Workers as their pings describe them, keyed by instance name (a later ping replaces an earlier one).
 *
 * A name belongs to the credential that first pinged with it, so no worker can redirect the operator's
 * `util worker pause <name>` to itself:
 * - a token bound to a worker (`auth create-token --worker <name>`) may ping with that name only, and
 *   always may: the operator issued it for that name, so it takes the name over from any other credential;
 * - an unbound token (damocles workers, older configs) registers the name it first pings with to its
 *   fingerprint; another credential pinging with that name is refused;
 * - a binding made under an older secret (`auth rotate-secret`) is stale: its token can no longer be
 *   verified, so the next credential to ping takes the name;
 * - an admin frees a name with `util worker forget <name>`. An admin token pinging is a worker like any
 *   other: taking a name over is an explicit operator act, never a side effect of a ping.
 */
export class WorkerRegistry {
  constructor(
    private readonly db: ManagerDb,
    /** The id of the manager's current JWT secret. */
    private readonly secretId: () => string,
  ) {}

  async ping(info: WorkerInfo, caller: Caller): Promise<void> {
    if (caller.worker !== null && caller.worker !== info.Name) {
      throw new RpcError(RPC_CODES.Unauthorized, `this token belongs to worker "${caller.worker}": a ping for worker "${info.Name}" is refused`);
    }
    const secret = this.secretId();
    const row = {
      name: info.Name,
      dest: info.Dest,
      version: info.Version,
      summary: JSON.stringify(info.Summary),
      last_ping: Date.now(),
      credential: caller.credential,
      secret_id: secret,
    };
    const bound = caller.worker !== null;
    // One statement, so two first pings racing for a name cannot both take it.
    const result = await this.db
      .insertInto('worker_pings')
      .values(row)
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ dest: row.dest, version: row.version, summary: row.summary, last_ping: row.last_ping, credential: row.credential, secret_id: row.secret_id })
          .where((eb) =>
            bound
              ? eb.lit(true)
              : eb.or([
                  eb('worker_pings.credential', 'is', null),
                  eb('worker_pings.credential', '=', caller.credential),
                  eb('worker_pings.secret_id', 'is', null),
                  eb('worker_pings.secret_id', '!=', secret),
                ]),
          ),
      )
      .executeTakeFirst();
    if (Number(result.numInsertedOrUpdatedRows ?? 0n) === 0) {
      throw new RpcError(
        RPC_CODES.Unauthorized,
        `worker name "${info.Name}" is registered to another credential: give this worker a token of its own (auth create-token --perm write --worker ${info.Name}), or free the name with util worker forget ${info.Name}`,
      );
    }
  }

  /** Frees a name: the next credential to ping with it registers it. Returns whether the worker was known. */
  async forget(name: string): Promise<boolean> {
    const result = await this.db.deleteFrom('worker_pings').where('name', '=', name).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
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
