import { readSecretFile } from '../../core/privateFiles.js';

/** Where the manager keeps its state: the embedded SQLite file in its home, or a PostgreSQL database. */
export type DatabaseTarget = { kind: 'sqlite' } | { kind: 'postgres'; url: string; password?: string };
/** Which database the manager's SQL runs on, where it must differ (row and advisory locks). */
export type DbDialect = DatabaseTarget['kind'];

export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url);

export const POSTGRES_URL_EXPECTED = 'expected a postgres:// or postgresql:// URL, e.g. postgres://sealfleet@db.example/sealfleet (leave it out for the embedded SQLite database <home>/manager.db)';

/**
 * A URL fit for a log line or an error: the password in its user info or a `password=` parameter becomes
 * `***`. Everything up to the last `@` counts as user info, so a password with a stray `@` is hidden whole
 * (at worst more than the password is hidden, never less).
 */
export function redactDbUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):.*@/i, '$1:***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}

export const carriesPassword = (url: string): boolean => redactDbUrl(url) !== url;

/**
 * Checks `--db`: a PostgreSQL URL without a password, since every user sees a command line in `ps`. The error
 * shows the URL redacted.
 */
export function checkCommandLineDbUrl(url: string): string {
  if (!isPostgresUrl(url)) throw new Error(`invalid --db "${redactDbUrl(url)}": ${POSTGRES_URL_EXPECTED}`);
  if (carriesPassword(url)) {
    throw new Error(
      `--db "${redactDbUrl(url)}" carries a password, which every user sees in ps: put the URL with its password in [db] url of manager.toml (kept 0600), ` +
        'or keep the password in [db] password_file, PGPASSWORD or ~/.pgpass',
    );
  }
  return url;
}

/**
 * The store the manager runs on: `--db`, else `[db] url`, else the embedded SQLite database. `[db]
 * password_file` is read here, at start (a changed password needs a restart).
 */
export function databaseTarget(commandLine: string | undefined, config: { url?: string | undefined; password_file?: string | undefined }): DatabaseTarget {
  const url = commandLine ?? config.url;
  if (url === undefined) {
    if (config.password_file !== undefined) throw new Error('[db] password_file is set, but there is no PostgreSQL database to use it for: set [db] url, or pass --db');
    return { kind: 'sqlite' };
  }
  if (config.password_file === undefined) return { kind: 'postgres', url };
  if (carriesPassword(url)) throw new Error(`[db] password_file is set and the database URL "${redactDbUrl(url)}" carries a password too: keep one of them`);
  return { kind: 'postgres', url, password: readSecretFile(config.password_file, 'the database password file', '[db] password_file', 'the password of the database user') };
}

/** How the target is named in logs and errors. */
export function describeTarget(target: DatabaseTarget, sqlitePath: string): string {
  switch (target.kind) {
    case 'sqlite':
      return sqlitePath;
    case 'postgres':
      return redactDbUrl(target.url);
  }
}
