import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';

const importFile = (m: TestManager, file: string) => runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);

/**
 * Where the payloads are: the import dir of the piece store's manager, so that a file outside it is outside
 * whatever directory the checkout or the system's temporary directory is in.
 */
const importRoot = realpathSync(tempDir('imports'));

async function importBytes(m: TestManager, bytes: Buffer): Promise<string> {
  const file = join(mkdtempSync(join(importRoot, 'piece-')), 'piece.bin');
  writeFileSync(file, bytes);
  const r = await importFile(m, file);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split(/\s+/)[0] as string;
}

/** The devnet default manager.toml with `import_dirs = <dirs>` (a TOML array). */
const withImportDirs = (home: string, dirs: string): string =>
  defaultDevnetConfig(join(home, 'persist')).replace(/^import_dirs = .*$/m, `import_dirs = ${dirs}`);

describe('piece store (real manager daemon)', () => {
  let m: TestManager;
  let token: string;
  before(async () => {
    const home = tempDir('piecestore');
    m = await startTestManager(home, { managerToml: withImportDirs(home, JSON.stringify([importRoot])) });
    token = readFileSync(join(m.home, 'token'), 'utf8').trim();
  });
  after(() => m.daemon.kill());

  const get = (cid: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }, query = '') =>
    fetch(`${m.url}/piecestore/${cid}${query}`, { headers });
  const alive = async () => assert.equal((await fetch(`${m.url}/healthz`)).status, 200);

  it('serves a piece with a bearer token, and refuses a token in the URL', async () => {
    const bytes = randomBytes(1000);
    const cid = await importBytes(m, bytes);
    const ok = await get(cid);
    assert.equal(ok.status, 200);
    assert.deepEqual(Buffer.from(await ok.arrayBuffer()), bytes);
    const inUrl = await get(cid, {}, `?token=${token}`);
    assert.equal(inUrl.status, 400);
    assert.match(await inUrl.text(), /send it in the Authorization header/);
    const both = await get(cid, { authorization: `Bearer ${token}` }, `?token=${token}`);
    assert.equal(both.status, 400);
    assert.equal((await get(cid, {})).status, 401);
  });

  it('answers a missing, unreadable or wrong-sized piece file with 503 / 500 and keeps running', async () => {
    const cid = await importBytes(m, randomBytes(700));
    const path = join(m.home, 'pieces', cid);
    renameSync(path, `${path}.away`);
    const missing = await get(cid);
    assert.equal(missing.status, 503);
    assert.match(await missing.text(), new RegExp(`piece ${cid} is imported but its file is missing`));
    await alive();
    // The daemon logs after it answered: wait for the line rather than read at once.
    const warning = await eventually('the missing-file warning', async () => m.daemon.stdout().split('\n').find((l) => l.includes('piece file missing from the piece store')));
    assert.ok(warning.includes(`"path":"${path}"`), `a warning naming ${path}`);
    // A second request after the first: the daemon did not die on the first.
    assert.equal((await get(cid)).status, 503);

    symlinkSync(path, path);
    const loop = await get(cid);
    assert.equal(loop.status, 500);
    assert.match(await loop.text(), new RegExp(`piece ${cid}: its file cannot be read \\(ELOOP\\)`));
    rmSync(path);

    writeFileSync(path, randomBytes(10));
    const short = await get(cid);
    assert.equal(short.status, 500);
    assert.match(await short.text(), new RegExp(`piece ${cid}: its file has 10 bytes, but its payload size is 700`));
    rmSync(path);
    renameSync(`${path}.away`, path);
    assert.equal((await get(cid)).status, 200);
    await alive();
  });

  it('imports only regular files under [pieces] import_dirs, never from the manager home', async () => {
    const secret = join(m.home, 'jwt.secret');
    const viaHome = await importFile(m, secret);
    assert.equal(viaHome.code, 1);
    assert.match(viaHome.stderr, /jwt\.secret: it is in the manager home .*, whose files are never imported/);
    const dir = mkdtempSync(join(importRoot, 'link-'));
    symlinkSync(secret, join(dir, 'innocent.bin'));
    const viaLink = await importFile(m, join(dir, 'innocent.bin'));
    assert.equal(viaLink.code, 1);
    assert.match(viaLink.stderr, /innocent\.bin: it is in the manager home/);
    const elsewhere = join(tempDir('not-imports'), 'outside.bin');
    writeFileSync(elsewhere, randomBytes(100));
    const outside = await importFile(m, elsewhere);
    assert.equal(outside.code, 1);
    assert.match(outside.stderr, /outside\.bin: it is not under any of \[pieces\] import_dirs \(/);
    mkdirSync(join(dir, 'sub'));
    const notFile = await importFile(m, join(dir, 'sub'));
    assert.match(notFile.stderr, /sub: not a regular file/);
    const pieces = await m.call<{ PieceCID: string }[]>('SealFleet.PiecesList');
    const cid = await importBytes(m, randomBytes(300));
    assert.equal((await m.call<unknown[]>('SealFleet.PiecesList')).length, pieces.length + 1);
    assert.ok(cid.startsWith('baga'));
  });
});

describe('[pieces] import_dirs config', () => {

  it('refuses imports with a clear error when no import dir is set', async () => {
    const home = tempDir('no-import-dirs');
    const m = await startTestManager(home, { managerToml: withImportDirs(home, '[]') });
    try {
      const file = join(tempDir('piece'), 'p.bin');
      writeFileSync(file, randomBytes(100));
      const r = await importFile(m, file);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no import directory is configured; set \[pieces\] import_dirs in manager\.toml/);
    } finally {
      await m.daemon.kill();
    }
  });

  it('refuses to start on a relative or missing import dir, naming the key and the value', async () => {
    for (const [dirs, why] of [['["pieces-in"]', /pieces\.import_dirs\.0 "pieces-in" must be an absolute path/], ['["/nonexistent/sealfleet-in"]', /pieces\.import_dirs\.0 "\/nonexistent\/sealfleet-in" does not exist/]] as const) {
      const home = tempDir('bad-import-dirs');
      mkdirSync(join(home, 'devnet'));
      writeFileSync(join(home, 'manager.toml'), withImportDirs(home, dirs));
      const r = await runCli(MANAGER_BIN, ['daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, why);
    }
  });

  it('never imports from the home even when an import dir contains it', async () => {
    const root = tempDir('import-parent');
    const home = join(root, 'home');
    mkdirSync(home);
    const m = await startTestManager(home, { managerToml: withImportDirs(home, JSON.stringify([root])) });
    try {
      writeFileSync(join(home, 'payload.bin'), randomBytes(100));
      const inHome = await importFile(m, join(home, 'payload.bin'));
      assert.match(inHome.stderr, /payload\.bin: it is in the manager home/);
      mkdirSync(join(root, 'in'));
      writeFileSync(join(root, 'in', 'ok.bin'), randomBytes(100));
      const ok = await importFile(m, join(root, 'in', 'ok.bin'));
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await m.daemon.kill();
    }
  });
});
