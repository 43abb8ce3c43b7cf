import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';

/**
 * The store test managers run on: SQLite unless `SEALFLEET_TEST_STORE=postgres`, then PostgreSQL on the server
 * `SEALFLEET_TEST_PG` names (a fresh database per manager home, dropped when the test file ends).
 */
export type TestStore = 'sqlite' | 'postgres';

export function testStore(): TestStore {
  const store = process.env.SEALFLEET_TEST_STORE;
  if (store === undefined || store === '' || store === 'sqlite') return 'sqlite';
  if (store === 'postgres') return 'postgres';
  throw new Error(`invalid SEALFLEET_TEST_STORE "${store}": expected sqlite or postgres`);
}

/** The server test databases are created on; PostgreSQL tests fail (never skip) without one. */
export function testPgServer(): string {
  const url = process.env.SEALFLEET_TEST_PG;
  if (!url) {
    throw new Error(
      'PostgreSQL tests need SEALFLEET_TEST_PG, the URL of a server to create test databases on, e.g. postgres://postgres@/postgres?host=/var/run/postgresql (as root: export SEALFLEET_TEST_PG=$(bash scripts/ci-postgres.sh))',
    );
  }
  return url;
}

/** `url` with its database name replaced: the server URL's user, host and parameters carry over. */
export function withDatabase(url: string, database: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/i, `$1/${database}`);
}

/** Runs `fn` on one connection to `url` (the server's own database unless given). */
export async function onPg<T>(fn: (client: pg.Client) => Promise<T>, url = testPgServer()): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const created: string[] = [];
const roles: string[] = [];

/**
 * Drops what the test file made when it ends. Registered at the top level of a test file's process (node --test
 * sets NODE_TEST_CONTEXT in it): registered from inside a test or hook, `after` would run when that suite ends and
 * drop databases later suites still use; and a script that merely imports these helpers (`npm run chaos`) must
 * not become a node:test run (it drops its own database).
 */
if (process.env.NODE_TEST_CONTEXT) {
  after(async () => {
    if (created.length === 0 && roles.length === 0) return;
    await onPg(async (c) => {
      for (const name of created.splice(0)) await c.query(`drop database if exists ${name} with (force)`);
      for (const role of roles.splice(0)) await c.query(`drop role if exists ${role}`);
    });
  });
}

/** Creates an empty database and returns its URL; it is dropped when the test file ends. */
export async function createTestDatabase(): Promise<string> {
  const name = `sf_${randomBytes(6).toString('hex')}`;
  await onPg((c) => c.query(`create database ${name}`));
  created.push(name);
  return withDatabase(testPgServer(), name);
}

/** The name of a database `createTestDatabase` made, from its URL. */
function databaseName(url: string): string {
  const name = /^postgres(?:ql)?:\/\/[^/?#]*\/([^?#]+)/i.exec(url)?.[1];
  if (!name || !created.includes(name)) throw new Error(`${url} is not a test database made by createTestDatabase`);
  return name;
}

/** Empties a test database in place, as a restore gone wrong would leave it. */
export async function emptyTestDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  await onPg(async (c) => {
    await c.query(`drop database ${name} with (force)`);
    await c.query(`create database ${name}`);
  });
}

/**
 * Copies a test database whose manager is stopped (a backup); the returned function puts the copy back in its
 * place (a restore).
 */
export async function snapshotTestDatabase(url: string): Promise<() => Promise<void>> {
  const name = databaseName(url);
  const copy = `${name}_bak`;
  await onPg((c) => c.query(`create database ${copy} template ${name}`));
  created.push(copy);
  return () =>
    onPg(async (c) => {
      await c.query(`drop database ${name} with (force)`);
      await c.query(`create database ${name} template ${copy}`);
    });
}

/**
 * A login role with a password, owning a new test database; returns the URL of that database over TCP on
 * 127.0.0.1 with the role as user and no password (the server at SEALFLEET_TEST_PG must take password logins
 * there, as scripts/ci-postgres.sh sets it up).
 */
export async function createPasswordRole(password: string): Promise<{ role: string; url: string }> {
  const role = `sf_role_${randomBytes(4).toString('hex')}`;
  const server = testPgServer();
  await onPg((c) => c.query(`create role ${role} login password '${password.replaceAll("'", "''")}'`));
  roles.push(role);
  const database = databaseName(await createTestDatabase());
  await onPg((c) => c.query(`alter database ${database} owner to ${role}`));
  const port = /[?&]port=(\d+)/.exec(server)?.[1] ?? /^postgres(?:ql)?:\/\/[^/?#]*:(\d+)/i.exec(server)?.[1] ?? '5432';
  return { role, url: `postgres://${role}@127.0.0.1:${port}/${database}` };
}

// Without a server, a PostgreSQL run fails at once with the line above rather than test by test.
if (testStore() === 'postgres') testPgServer();
