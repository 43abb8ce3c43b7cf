import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../core/log.js';
import { PRIVATE_FILE, privateDir, tightenMode, type Tightened } from '../core/privateFiles.js';
import { secretPath, tokenPath } from './auth.js';

export const databasePath = (home: string): string => join(home, 'manager.db');
/** One manager per home (see acquireHomeLock). */
export const managerLockPath = (home: string): string => join(home, 'manager.lock');

/** Says which file was open to others and is private now; `advice` says what to do about what was read. */
export function warnTightened(log: Logger, t: Tightened | null, advice = ''): void {
  if (t) log.warn({ file: t.path, oldMode: t.oldMode }, `${t.path} was open to other users (mode ${t.oldMode}): made private${advice}`);
}

/**
 * Makes the manager home the owner's alone before anything is read from it: the home and `pieces/` 0700;
 * the secret, the CLI's token, the database (with its -wal and -shm) and the pieces 0600. A file found
 * open to others is tightened with a warning naming it and its old mode rather than refused: refusing would
 * not take back what was read, and the warning says how to (rotate the secret).
 */
export function secureManagerHome(home: string, log: Logger): void {
  const warn = (t: Tightened | null, advice = ''): void => warnTightened(log, t, advice);
  warn(privateDir(home));
  warn(tightenMode(secretPath(home), PRIVATE_FILE), '; if anyone else may have read it, run sealfleet-manager auth rotate-secret');
  warn(tightenMode(tokenPath(home), PRIVATE_FILE), '; it is an admin token: if anyone else may have read it, run sealfleet-manager auth rotate-secret');
  const db = databasePath(home);
  for (const path of [db, `${db}-wal`, `${db}-shm`]) warn(tightenMode(path, PRIVATE_FILE));
  securePieceDir(join(home, 'pieces'), log);
}

/** Makes a piece store directory (the home's `pieces/`, or `[pieces] dir`) and its files the owner's alone. */
export function securePieceDir(dir: string, log: Logger): void {
  warnTightened(log, privateDir(dir));
  for (const name of readdirSync(dir)) warnTightened(log, tightenMode(join(dir, name), PRIVATE_FILE));
}
