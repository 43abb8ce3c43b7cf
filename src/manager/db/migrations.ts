import { randomUUID } from 'node:crypto';
import type { Expression, ExpressionBuilder, Kysely, SqlBool } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from './schema.js';
import type { DatabaseTarget } from './target.js';

/**
 * Schema history; append only. Each migration runs once, in a transaction, in name order. One history
 * for both stores: where their SQL differs, a migration branches on `store`, and the SQLite branch stays
 * exactly what existing SQLite files were created with.
 */
export const migrations = (store: DatabaseTarget['kind']): Record<string, Migration> => ({
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('sectors')
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('number', 'bigint', (c) => c.notNull())
        .addColumn('proof_type', 'integer', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('plan', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('worker_instance', 'text')
        .addColumn('worker_location', 'text')
        .addColumn('latest_state', 'text')
        .addColumn('abort_request', 'text')
        .addColumn('abort_reason', 'text')
        .addColumn('pieces', 'text')
        .addColumn('ticket', 'text')
        .addColumn('pre', 'text')
        .addColumn('pre_message', 'text')
        .addColumn('seed', 'text')
        .addColumn('proof', 'text')
        .addColumn('prove_message', 'text')
        .addColumn('persist_instance', 'text')
        .addColumn('upgrade', 'text')
        .addColumn('upgrade_message', 'text')
        .addColumn('queued_at', 'bigint')
        .addColumn('rebuild_requested', 'integer', (c) => c.notNull().defaultTo(0))
        .addPrimaryKeyConstraint('sectors_pk', ['miner', 'number'])
        .execute();
      await db.schema.createIndex('sectors_by_status').on('sectors').columns(['status', 'miner']).execute();

      await db.schema
        .createTable('sector_events')
        .addColumn('id', store === 'sqlite' ? 'integer' : 'bigint', (c) => (store === 'sqlite' ? c.primaryKey().autoIncrement() : c.primaryKey().generatedAlwaysAsIdentity()))
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('number', 'bigint', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('worker_instance', 'text')
        .addColumn('worker_location', 'text')
        .addColumn('prev', 'text')
        .addColumn('next', 'text')
        .addColumn('event', 'text')
        .addColumn('failure_level', 'text')
        .addColumn('failure_desc', 'text')
        .execute();
      await db.schema.createIndex('sector_events_by_sector').on('sector_events').columns(['miner', 'number', 'id']).execute();

      await db.schema
        .createTable('sector_numbers')
        .addColumn('miner', 'bigint', (c) => c.primaryKey())
        .addColumn('last', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('pieces')
        .addColumn('cid', 'text', (c) => c.primaryKey())
        .addColumn('miner', 'bigint')
        .addColumn('padded_size', 'bigint', (c) => c.notNull())
        .addColumn('payload_size', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('sector_miner', 'bigint')
        .addColumn('sector_number', 'bigint')
        .addColumn('imported_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('pieces_by_status').on('pieces').columns(['status', 'imported_at']).execute();

      await db.schema
        .createTable('reservations')
        .addColumn('store', 'text', (c) => c.notNull())
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('number', 'bigint', (c) => c.notNull())
        .addColumn('size', 'bigint', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('reservations_pk', ['store', 'miner', 'number'])
        .execute();

      await db.schema
        .createTable('worker_pings')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('dest', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('last_ping', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('sectors', 'text', (c) => c.notNull())
        .addColumn('method', 'integer', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('cid', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('height', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('messages_by_state').on('messages').columns(['state']).execute();
    },
  },
  '0002_worker_ping_credential': {
    async up(db: Kysely<unknown>) {
      // A worker name belongs to the credential that registered it (see WorkerRegistry).
      await db.schema.alterTable('worker_pings').addColumn('credential', 'text').execute();
      await db.schema.alterTable('worker_pings').addColumn('secret_id', 'text').execute();
    },
  },
  '0003_cluster': {
    async up(db: Kysely<unknown>) {
      // The identity of the cluster this database holds: a home records it on its first start, so it is never
      // later started on an empty database or another cluster's (see checkCluster).
      await db.schema
        .createTable('cluster')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await (db as Kysely<Pick<Database, 'cluster'>>).insertInto('cluster').values({ id: randomUUID(), created_at: Date.now() }).execute();
    },
  },
  '0004_sector_stage': {
    async up(db: Kysely<unknown>) {
      // A sector's lifecycle stage, which the manager used to infer from its JSON and message columns (see
      // sectors/lifecycle.ts). Each existing row is classified once, first matching rule wins: every rule
      // only takes rows still at the default.
      await db.schema.alterTable('sectors').addColumn('stage', 'text', (c) => c.notNull().defaultTo('allocated')).execute();
      const sectors = db as Kysely<{ sectors: LegacySector }>;
      const classify = async (stage: string, where: (eb: ExpressionBuilder<{ sectors: LegacySector }, 'sectors'>) => Expression<SqlBool>) => {
        await sectors.updateTable('sectors').set({ stage }).where('stage', '=', 'allocated').where(where).execute();
      };
      await classify('aborted', (eb) => eb('status', '=', 'aborted'));
      await classify('rebuild_queued', (eb) => eb.and([eb('status', '=', 'finalized'), eb('rebuild_requested', '=', 1)]));
      await classify('finalized', (eb) => eb('status', '=', 'finalized'));
      await classify('rebuilding', (eb) => eb('plan', '=', 'rebuild'));
      await classify('upgrade_sent', (eb) => eb.and([eb('plan', '=', 'snapup'), eb('upgrade_message', 'is not', null)]));
      await classify('upgrade_queued', (eb) => eb.and([eb('plan', '=', 'snapup'), eb('upgrade', 'like', '%"submitted"%')]));
      await classify('upgrading', (eb) => eb('plan', '=', 'snapup'));
      await classify('proof_sent', (eb) => eb('prove_message', 'is not', null));
      await classify('proof_queued', (eb) => eb('proof', 'is not', null));
      await classify('precommit_sent', (eb) => eb('pre_message', 'is not', null));
      await classify('precommit_queued', (eb) => eb('pre', 'is not', null));
      // The rebuild queue is now the stage `rebuild_queued`.
      await db.schema.alterTable('sectors').dropColumn('rebuild_requested').execute();
      await db.schema.createIndex('sectors_by_stage').on('sectors').columns(['stage', 'miner']).execute();
    },
  },
  '0005_auth_secret': {
    async up(db: Kysely<unknown>) {
      // The cluster's JWT secret, one row, so that every manager on a shared PostgreSQL database accepts the
      // same tokens (see clusterSecret.ts). A SQLite database serves one manager, whose home file holds it:
      // the table stays empty there.
      await db.schema
        .createTable('auth_secret')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('rotated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0006_post_submissions': {
    async up(db: Kysely<unknown>) {
      // The Window PoSt each deadline got, one row per (miner, proving period, deadline): the row is claimed in
      // the transaction that inserts it, before the message is pushed, so a restarted manager, or another
      // manager on the same database, never sends a second proof for the same deadline (proving/poster.ts).
      await db.schema
        .createTable('post_submissions')
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('period_start', 'bigint', (c) => c.notNull())
        .addColumn('deadline', 'integer', (c) => c.notNull())
        .addColumn('partitions', 'text', (c) => c.notNull())
        .addColumn('claimed_epoch', 'bigint', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('cid', 'text')
        .addColumn('exit_code', 'integer')
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('post_submissions_pk', ['miner', 'period_start', 'deadline'])
        .execute();
    },
  },
  '0007_wdpost_jobs': {
    async up(db: Kysely<unknown>) {
      // Window PoSt jobs for workers' wdpost threads (proving/wdpostJobs.ts). The id is the sha256 of the input's
      // JSON, so a restarted manager that proves the same deadline again finds its job instead of adding one.
      // Every column is portable SQL: the same statement creates the table on SQLite and PostgreSQL.
      await db.schema
        .createTable('wdpost_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('proof_type', 'text', (c) => c.notNull())
        .addColumn('input', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('try_num', 'integer', (c) => c.notNull())
        .addColumn('worker', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('ready_at', 'bigint', (c) => c.notNull())
        .addColumn('started_at', 'bigint')
        .addColumn('heartbeat_at', 'bigint')
        .addColumn('finished_at', 'bigint')
        .addColumn('output', 'text')
        .addColumn('error', 'text')
        .addColumn('fallback_at', 'bigint')
        .execute();
      await db.schema.createIndex('wdpost_jobs_by_state').on('wdpost_jobs').columns(['state', 'ready_at']).execute();
    },
  },
  '0008_life_messages': {
    async up(db: Kysely<unknown>) {
      // Fault and recovery declarations, extensions and terminations from their push to their receipt: the
      // sectors' histories record what landed, whichever manager sees the receipt (proving/lifeMessages.ts).
      await db.schema
        .createTable('life_messages')
        .addColumn('cid', 'text', (c) => c.primaryKey())
        .addColumn('miner', 'bigint', (c) => c.notNull())
        .addColumn('method', 'integer', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('sectors', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('height', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('life_messages_pending').on('life_messages').columns(['state', 'miner']).execute();
    },
  },
  '0009_post_attempts': {
    async up(db: Kysely<unknown>) {
      // How many proof messages a deadline got: one that failed on chain is proven and sent again, a bounded
      // number of times, while the deadline is open.
      await db.schema.alterTable('post_submissions').addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(1)).execute();
    },
  },
});

/** The `sectors` columns 0004 reads, as they were before it. */
interface LegacySector {
  status: string;
  plan: string;
  stage: string;
  rebuild_requested: number;
  upgrade: string | null;
  upgrade_message: string | null;
  proof: string | null;
  prove_message: string | null;
  pre: string | null;
  pre_message: string | null;
}
