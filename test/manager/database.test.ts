import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { SubmitResult } from '../../src/core/wire/sealer.js';
import { backUpDatabase, expectRefusedStart, managerDbArgs, spawnDevnetManager, startTestManager, useDatabaseOf } from '../helpers/manager.js';
import { testStore } from '../helpers/postgres.js';
import { tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];

const SQLITE_ONLY = testStore() !== 'sqlite' && 'checks of the SQLite file; the PostgreSQL run has its own in postgresDatabase.test.ts';

/** Runs `daemon --devnet` in `home` on its database and expects it to refuse to start; returns its stderr. */
async function refusedStart(home: string): Promise<string> {
  const daemon = spawnDevnetManager(home, await managerDbArgs(home));
  await expectRefusedStart(daemon);
  return daemon.stderr();
}

/** A home a manager has run in (stopped cleanly: its database is checkpointed into manager.db). */
async function usedHome(): Promise<string> {
  const m = await startTestManager(tempDir('db-home'));
  await m.daemon.kill();
  return m.home;
}

const clusterId = (home: string): string => readFileSync(join(home, 'cluster-id'), 'utf8').trim();

describe('manager database integrity (real daemon)', () => {
  it('a new home starts on a new database with no flags, and again on it', async () => {
    const home = tempDir('db-new');
    const m = await startTestManager(home);
    await m.daemon.kill();
    const again = await startTestManager(home);
    await again.daemon.kill();
  });

  it("refuses another cluster's database, naming both clusters; a new home joins that cluster", async () => {
    const [a, b] = await Promise.all([usedHome(), usedHome()]);
    const [idA, idB] = [clusterId(a), clusterId(b)];
    assert.notEqual(idA, idB);
    useDatabaseOf(a, b);
    const refused = await refusedStart(a);
    assert.match(refused, new RegExp(`holds cluster ${idB}, but this home ran against cluster ${idA} \\(${join(a, 'cluster-id')}\\): refusing`));
    assert.match(refused, new RegExp(`or start a new --home to join cluster ${idB}`));
    assert.equal(clusterId(a), idA, 'the home keeps its cluster');

    const joining = tempDir('db-join');
    useDatabaseOf(joining, b);
    const m = await startTestManager(joining);
    await m.daemon.kill();
    assert.equal(clusterId(joining), idB);
  });

  it('a database restored from an old backup skips, in one AllocateSector, the numbers the chain already has', async () => {
    const home = await usedHome();
    const restore = await backUpDatabase(home);
    let m = await startTestManager(home);
    try {
      for (let i = 0; i < 2; i++) {
        const s = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
        await s.prepare();
        assert.equal((await s.submitPreCommit()).Res, SubmitResult.Accepted);
        await s.waitLanded('Venus.PollPreCommitState');
      }
    } finally {
      await m.daemon.kill();
    }
    await restore();
    m = await startTestManager(home);
    try {
      const s = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      assert.equal(s.ID.Number, 3, 'numbers 1 and 2 are on chain: skipped, not refused one call at a time');
    } finally {
      await m.daemon.kill();
    }
  });
});

describe('manager database file (SQLite)', { skip: SQLITE_ONLY }, () => {
  it('refuses to start when manager.db is missing or empty in a home that has run, naming the file and what to do', async () => {
    const home = await usedHome();
    const db = join(home, 'manager.db');
    truncateSync(db, 0);
    const empty = await refusedStart(home);
    assert.match(empty, new RegExp(`manager database ${db} is empty \\(0 bytes\\), but this home has run a manager before \\(it has cluster-id, jwt\\.secret, token, api\\)`));
    assert.match(empty, /Restore manager\.db from a backup, or start over with a new --home/);
    assert.equal(statSync(db).size, 0, 'the empty file is left as it was');
    rmSync(db);
    assert.match(await refusedStart(home), new RegExp(`manager database ${db} is missing, but this home has run a manager before`));
  });

  it('refuses a truncated database, naming its path and sizes', async () => {
    const home = await usedHome();
    const db = join(home, 'manager.db');
    const size = statSync(db).size;
    truncateSync(db, 8192);
    assert.match(await refusedStart(home), new RegExp(`manager database ${db} is truncated: its header says ${size / 4096} pages of 4096 bytes \\(${size} bytes\\), the file has 8192`));
  });

  it('refuses a file that is not a database, one with damaged pages, and another program\'s database, each by path', async () => {
    const notDb = tempDir('db-garbage');
    writeFileSync(join(notDb, 'manager.db'), 'these are not the bytes you are looking for\n');
    assert.match(await refusedStart(notDb), new RegExp(`manager database ${join(notDb, 'manager.db')} is not a SQLite database`));

    const damaged = await usedHome();
    const file = join(damaged, 'manager.db');
    const bytes = readFileSync(file);
    // Every page after the schema page is overwritten: the file keeps its size and header.
    bytes.fill(0x5a, 4096);
    writeFileSync(file, bytes);
    assert.match(await refusedStart(damaged), new RegExp(`manager database ${file} (is damaged|cannot be used)`));

    const foreign = tempDir('db-foreign');
    const other = new SqliteDatabase(join(foreign, 'manager.db'));
    other.exec('CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE albums (id INTEGER PRIMARY KEY)');
    other.close();
    assert.match(await refusedStart(foreign), new RegExp(`manager database ${join(foreign, 'manager.db')} is another program's SQLite database \\(tables albums, photos, no sealfleet migrations\\)`));
  });
});
