import { existsSync } from 'node:fs';
import type { Logger } from '../core/log.js';
import { loadSecret, newSecret, parseSecretHex, secretHex, secretId, secretPath, type TokenAuthority, writeSecretFiles } from './auth.js';
import type { ManagerDb } from './db/open.js';

/**
 * A cluster on PostgreSQL is one auth domain: its JWT secret is a row of the database that every manager
 * reads, so a token made by any manager (or from any home's `jwt.secret`) is accepted by all of them. Each
 * home's `jwt.secret` and `token` are kept as copies for the CLI.
 */

/** How often a manager looks for a rotation made by another: the bound on how long an older token still passes there. */
export const SECRET_POLL_MS = 2000;

const ROW = 1;

/**
 * The cluster's secret, created by the first manager to start on the database: from its home's
 * `jwt.secret` when it has one (the tokens it gave out keep working), else a new one; of managers starting
 * at once, the first insert wins and the others read it. The home's files are made to match.
 */
export async function adoptClusterSecret(db: ManagerDb, home: string, log: Logger): Promise<Uint8Array> {
  const hadFile = existsSync(secretPath(home));
  const own = loadSecret(home, true);
  await db.insertInto('auth_secret').values({ id: ROW, secret: secretHex(own), rotated_at: Date.now() }).onConflict((oc) => oc.column('id').doNothing()).execute();
  const cluster = await readClusterSecret(db);
  if (secretHex(cluster) !== secretHex(own)) {
    await writeSecretFiles(home, cluster);
    if (hadFile) log.warn({ file: secretPath(home) }, "this home's JWT secret differs from its cluster's: replaced by the cluster's, so tokens made from the old file are refused");
  }
  return cluster;
}

/** Replaces the cluster's secret for every manager (each takes it within SECRET_POLL_MS) and this home's copies. */
export async function rotateClusterSecret(db: ManagerDb, home: string): Promise<Uint8Array> {
  const secret = newSecret();
  // The database first: a rotation it did not take must not live on in this home's files.
  await db.updateTable('auth_secret').set({ secret: secretHex(secret), rotated_at: Date.now() }).where('id', '=', ROW).execute();
  await writeSecretFiles(home, secret);
  return secret;
}

async function readClusterSecret(db: ManagerDb): Promise<Uint8Array> {
  const row = await db.selectFrom('auth_secret').select('secret').where('id', '=', ROW).executeTakeFirst();
  if (!row) throw new Error('the manager database holds no JWT secret (auth_secret is empty): restore the database from a backup');
  return parseSecretHex(row.secret, 'in the manager database (auth_secret)');
}

/**
 * Follows rotations made by other managers: every SECRET_POLL_MS the database's secret is compared with the
 * one in use, and a new one replaces it (the token cache is dropped with it) and is copied into the home.
 * Returns the function that stops it.
 */
export function watchClusterSecret(db: ManagerDb, home: string, authority: TokenAuthority, log: Logger): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const look = async (): Promise<void> => {
    const secret = await readClusterSecret(db);
    if (secretId(secret) === authority.secretId) return;
    await writeSecretFiles(home, secret);
    authority.rotate(secret);
    log.warn('JWT secret rotated by another manager of the cluster: every older token is refused from now on');
  };
  const timer = setInterval(() => {
    running = running.then(look).catch((err: unknown) => log.warn({ err }, 'cannot read the cluster JWT secret; keeping the one in use'));
  }, SECRET_POLL_MS);
  return async () => {
    clearInterval(timer);
    await running;
  };
}
