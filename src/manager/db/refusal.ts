import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The database cannot be used; the message names it, says what is wrong and what to do. */
export class DatabaseRefused extends Error {
  override readonly name = 'DatabaseRefused';
}

export const AND_HOME = ', or start over with a new --home (move this one aside): the secret, tokens and pieces here belong to the lost database';

/** The file in a home naming the cluster (database) it has run against. */
export const CLUSTER_ID_FILE = 'cluster-id';

/** What in a home shows a manager has run there (each is written only after its database was created). */
function signsOfUse(home: string): string[] {
  const signs = [CLUSTER_ID_FILE, 'jwt.secret', 'token', 'api'].filter((f) => existsSync(join(home, f)));
  const pieces = join(home, 'pieces');
  if (existsSync(pieces) && readdirSync(pieces).length > 0) signs.push('pieces/');
  return signs;
}

/**
 * The refusal of a missing or empty database (`what` says which) in a home that has run a manager, or
 * undefined for a new home. `restore` says where the database should come back from.
 */
export function refuseLost(home: string, shown: string, what: string, restore: string): DatabaseRefused | undefined {
  const signs = signsOfUse(home);
  if (signs.length === 0) return undefined;
  return new DatabaseRefused(
    `manager database ${shown} ${what}, but this home has run a manager before (it has ${signs.join(', ')}): ` +
      `refusing to start on an empty database, which would drop every sector in flight. ${restore}${AND_HOME}`,
  );
}

/** Kysely's bookkeeping of applied migrations: a sealfleet database has it from its first start. */
export const isMigrationTable = (table: string): boolean => table === 'kysely_migration' || table === 'kysely_migration_lock';
