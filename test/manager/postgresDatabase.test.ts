import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { migrations } from '../../src/manager/db/migrations.js';
import { expectRefusedStart, homeDatabaseUrl, managerDbArgs, spawnDevnetManager, startTestManager } from '../helpers/manager.js';
import { createPasswordRole, createTestDatabase, emptyTestDatabase, onPg, testStore } from '../helpers/postgres.js';
import { tempDir, type Spawned } from '../helpers/processes.js';
import { RpcClient } from '../../src/core/rpc/client.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];
const POSTGRES_ONLY = testStore() !== 'postgres' && 'the manager on PostgreSQL: run with SEALFLEET_TEST_STORE=postgres (npm test does, when SEALFLEET_TEST_PG is set)';

/** `daemon --devnet` in `home` with `args`, not waited on. */
/** Expects the manager to refuse to start; returns everything it printed. */
async function refused(daemon: Spawned): Promise<string> {
  await expectRefusedStart(daemon);
  return daemon.stdout() + daemon.stderr();
}

const clusterId = (home: string): string => readFileSync(join(home, 'cluster-id'), 'utf8').trim();

describe('manager on PostgreSQL (real daemon, real server)', { skip: POSTGRES_ONLY }, () => {
  it('refuses an emptied database for a home that has run, naming the database and what to do', async () => {
    const home = tempDir('pg-empty');
    const m = await startTestManager(home);
    await m.daemon.kill();
    const url = homeDatabaseUrl(home);
    await emptyTestDatabase(url);
    const out = await refused(spawnDevnetManager(home, await managerDbArgs(home)));
    assert.match(out, /manager database postgres:\/\/\S+ holds no tables, but this home has run a manager before \(it has cluster-id, jwt\.secret, token, api\)/);
    assert.ok(out.includes(url), 'the database is named by its URL');
    assert.match(out, /Point --db or \[db\] url at the database this home ran on, or restore that database from a backup, or start over with a new --home/);
  });

  it("refuses another program's database", async () => {
    const url = await createTestDatabase();
    await onPg((c) => c.query('create table photos (id integer primary key); create table albums (id integer primary key)'), url);
    const out = await refused(spawnDevnetManager(tempDir('pg-foreign'), ['--db', url]));
    assert.match(out, /is another program's database \(tables albums, photos, no sealfleet migrations\): point --db or \[db\] url at the manager's own database/);
  });

  it('two managers starting at once on one new database: one schema history, one cluster, no number handed out twice', async () => {
    const url = await createTestDatabase();
    const homes = [tempDir('pg-first'), tempDir('pg-second')];
    const daemons = homes.map((home) => spawnDevnetManager(home, ['--db', url]));
    try {
      const urls = await Promise.all(daemons.map(async (d) => (JSON.parse(await d.waitFor(/"manager up"/, 60_000)) as { url: string }).url));
      assert.equal(clusterId(homes[0] as string), clusterId(homes[1] as string));
      const applied = await onPg((c) => c.query<{ name: string }>('select name from kysely_migration order by name'), url);
      assert.deepEqual(
        applied.rows.map((r) => r.name),
        Object.keys(migrations('postgres')).sort(),
      );
      const clusters = await onPg((c) => c.query('select id from cluster'), url);
      assert.equal(clusters.rowCount, 1);

      const clients = homes.map((home, i) => new RpcClient({ url: `${urls[i]}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim() }));
      const numbers = await Promise.all(Array.from({ length: 10 }, (_, i) => (clients[i % 2] as (typeof clients)[number]).call<AllocatedSector>('Venus.AllocateSector', SPEC).then((s) => s.ID.Number)));
      assert.deepEqual([...numbers].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    } finally {
      await Promise.all(daemons.map((d) => d.kill()));
    }
  });

  it('reads bigints exactly: a value a JavaScript number cannot hold fails the call instead of coming back rounded', async () => {
    const m = await startTestManager(tempDir('pg-int8'));
    try {
      const first = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      assert.equal(first.ID.Number, 1);
      await onPg((c) => c.query(`update sector_numbers set last = ${2n ** 53n}`), homeDatabaseUrl(m.home));
      await assert.rejects(m.call('Venus.AllocateSector', SPEC), /the database returned 9007199254740993, which is not an integer a JavaScript number holds exactly/);
    } finally {
      await m.daemon.kill();
    }
  });

  it('never shows the database password: refused on the command line, kept out of ps, logs and errors; read from [db] password_file', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const { role, url } = await createPasswordRole(password);
    const withPassword = url.replace(`${role}@`, `${role}:${password}@`);
    const home = tempDir('pg-password');
    const config = (db: string): string => `${defaultDevnetConfig(join(home, 'persist'))}\n[db]\n${db}\n`;

    const onArgv = await refused(spawnDevnetManager(home, ['--db', withPassword]));
    assert.match(onArgv, new RegExp(`--db "postgres://${role}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/\\w+" carries a password, which every user sees in ps: put the URL with its password in \\[db\\] url of manager\\.toml`));
    assert.ok(!onArgv.includes(password), onArgv);

    // In manager.toml (left readable by others, as an editor may leave it): tightened, and the manager runs.
    writeFileSync(join(home, 'manager.toml'), config(`url = ${JSON.stringify(withPassword)}`), { mode: 0o644 });
    let daemon = spawnDevnetManager(home, []);
    try {
      await daemon.waitFor(/"manager up"/, 60_000);
      assert.equal((statSync(join(home, 'manager.toml')).mode & 0o777).toString(8), '600');
      const argv = readFileSync(`/proc/${daemon.proc.pid}/cmdline`, 'utf8');
      assert.ok(!argv.includes(password), 'ps shows no password');
      assert.match(daemon.stdout(), /manager\.toml was open to other users \(mode 0644\): made private: its \[db\] url carries the database password/);
      assert.match(daemon.stdout(), new RegExp(`"database":"postgres://${role}:\\*\\*\\*@127\\.0\\.0\\.1`));
    } finally {
      await daemon.kill();
    }
    assert.ok(!(daemon.stdout() + daemon.stderr()).includes(password), 'the log shows no password');

    // The same database with the password in a file of its own.
    const passwordFile = join(home, 'db.password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    writeFileSync(join(home, 'manager.toml'), config(`url = ${JSON.stringify(url)}\npassword_file = ${JSON.stringify(passwordFile)}`));
    daemon = spawnDevnetManager(home, []);
    try {
      await daemon.waitFor(/"manager up"/, 60_000);
    } finally {
      await daemon.kill();
    }

    // A wrong password is refused by the server, and the error shows neither password.
    const wrong = `wrong-${randomBytes(8).toString('hex')}`;
    writeFileSync(passwordFile, `${wrong}\n`);
    const badPassword = await refused(spawnDevnetManager(home, []));
    assert.match(badPassword, new RegExp(`cannot use manager database postgres://${role}@127\\.0\\.0\\.1:\\d+/\\w+: password authentication failed for user "${role}"`));
    assert.ok(!badPassword.includes(wrong) && !badPassword.includes(password), badPassword);

    // A password in the URL and a wrong database name: the error names the URL, redacted.
    writeFileSync(join(home, 'manager.toml'), config(`url = ${JSON.stringify(withPassword.replace(/\/\w+$/, '/sf_no_such_database'))}`));
    const badDatabase = await refused(spawnDevnetManager(home, []));
    assert.match(badDatabase, new RegExp(`cannot use manager database postgres://${role}:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/sf_no_such_database: database "sf_no_such_database" does not exist`));
    assert.ok(!badDatabase.includes(password), badDatabase);

    // Both a password in the URL and a password file: ambiguous, refused without showing either.
    writeFileSync(passwordFile, `${password}\n`);
    writeFileSync(join(home, 'manager.toml'), config(`url = ${JSON.stringify(withPassword)}\npassword_file = ${JSON.stringify(passwordFile)}`));
    const both = await refused(spawnDevnetManager(home, []));
    assert.match(both, /\[db\] password_file is set and the database URL "postgres:\/\/\S+:\*\*\*@\S+" carries a password too: keep one of them/);
    assert.ok(!both.includes(password), both);
  });
});
