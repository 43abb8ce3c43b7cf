import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, SignJWT } from 'jose';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { createToken, loadSecret } from '../../src/manager/auth.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import { startTestDevnet, TEST_DEVNET_TOML } from '../helpers/devnet.js';
import { eventually, managerDbArgs, startTestManager, type TestManager } from '../helpers/manager.js';
import { testStore } from '../helpers/postgres.js';
import { MANAGER_BIN, runCli, spawnCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

const SUMMARY = { Threads: 1, Empty: 1, Paused: 0, Running: 0, Waiting: 0, Errors: 0 };
const cli = (home: string, ...args: string[]) => runCli(MANAGER_BIN, [...args, '--home', home]);
const mode = (path: string): string => `0${(statSync(path).mode & 0o777).toString(8)}`;
const client = (m: TestManager, token: string) => new RpcClient({ url: `${m.url}/rpc/v0`, token, timeoutMs: 10_000 });

/** An answer of HTTP 401 (a refused token), as the RPC client reports it. */
const refusedToken = (pattern: RegExp) => (e: RpcError) => e.code === RPC_CODES.Unauthorized && /token refused/.test(e.message) && pattern.test(e.message);

describe('manager auth', () => {
  let m: TestManager;
  let worker: TestWorker;
  before(async () => {
    m = await startTestManager(tempDir('auth'));
    worker = await startTestWorker(await writeWorkerConfig(join(m.home, 'worker'), m, { threads: [{ plan: 'sealer' }] }));
  });
  after(async () => {
    await worker?.daemon.kill();
    await m?.daemon.kill();
  });

  it('honours exp on every call, not only the first', async () => {
    // Signed here rather than by the CLI, so that only the verification is under test.
    const expiring = await new SignJWT({ Allow: ['read'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('2s').sign(loadSecret(m.home, false));
    const reader = client(m, expiring);
    await reader.call('SealFleet.WorkerList');
    await eventually('the expired token to be refused', async () => {
      try {
        await reader.call('SealFleet.WorkerList');
        return undefined;
      } catch (err) {
        assert.ok(refusedToken(/expired/)(err as RpcError), String(err));
        return true;
      }
    }, 10_000);
  });

  it('create-token --expire and --worker put exp and Worker in the token; bad values are one line naming them', async () => {
    const made = await cli(m.home, 'auth', 'create-token', '--perm', 'write', '--expire', '1h', '--worker', 'w1');
    assert.equal(made.code, 0, made.stderr);
    const claims = decodeJwt(made.stdout.trim());
    assert.equal(claims.Worker, 'w1');
    assert.ok(typeof claims.exp === 'number' && Math.abs(claims.exp * 1000 - (Date.now() + 3_600_000)) < 60_000, `exp about an hour ahead: ${claims.exp}`);
    const bad = await cli(m.home, 'auth', 'create-token', '--perm', 'read', '--expire', 'soon');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid duration "soon"/);
    const strong = await cli(m.home, 'auth', 'create-token', '--perm', 'admin', '--worker', 'w1');
    assert.equal(strong.code, 1);
    assert.match(strong.stderr, /--worker .* --perm write, not --perm admin/);
  });

  it('refuses a ping claiming another worker\'s name, and util worker pause still reaches the real worker', async () => {
    await eventually('the worker to ping', async () => ((await m.call<{ Name: string }[]>('SealFleet.WorkerList')).some((w) => w.Name === 'test-worker') ? true : undefined));
    const fake = { Name: 'test-worker', Dest: '127.0.0.1:1', Version: 'evil', Summary: SUMMARY };
    const unbound = await createToken(loadSecret(m.home, false), 'write');
    await assert.rejects(client(m, unbound).call('Venus.WorkerPing', [fake]), (e: RpcError) =>
      e.code === RPC_CODES.Unauthorized && /worker name "test-worker" is registered to another credential/.test(e.message));
    const bound = await createToken(loadSecret(m.home, false), 'write', { worker: 'intruder' });
    await assert.rejects(client(m, bound).call('Venus.WorkerPing', [fake]), (e: RpcError) =>
      e.code === RPC_CODES.Unauthorized && /belongs to worker "intruder": a ping for worker "test-worker"/.test(e.message));
    // Its own name is fine, and a name once free is registered to the first credential that pings with it.
    await client(m, bound).call('Venus.WorkerPing', [{ ...fake, Name: 'intruder' }]);
    await assert.rejects(client(m, unbound).call('Venus.WorkerPing', [{ ...fake, Name: 'intruder' }]), (e: RpcError) => e.code === RPC_CODES.Unauthorized);

    const paused = await cli(m.home, 'util', 'worker', 'pause', 'test-worker', '0');
    assert.equal(paused.code, 0, paused.stderr);
    await eventually('the real worker to pause', async () => ((await worker.list()).find((t: WorkerThreadInfo) => t.index === 0)?.thread_state.state === 'Paused' ? true : undefined));

    // An operator frees a name; the next credential to ping takes it.
    const forgot = await cli(m.home, 'util', 'worker', 'forget', 'intruder');
    assert.equal(forgot.code, 0, forgot.stderr);
    await client(m, unbound).call('Venus.WorkerPing', [{ ...fake, Name: 'intruder' }]);
  });

  it('rotate-secret refuses every older token at once, and a worker-bound token made after it binds its name anew', async () => {
    const reader = await createToken(loadSecret(m.home, false), 'read');
    const oldAdmin = readFileSync(join(m.home, 'token'), 'utf8').trim();
    await client(m, reader).call('SealFleet.WorkerList');
    const rotated = await cli(m.home, 'auth', 'rotate-secret');
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /every older token is refused/);
    await assert.rejects(client(m, reader).call('SealFleet.WorkerList'), refusedToken(/signature/));
    await assert.rejects(client(m, oldAdmin).call('SealFleet.WorkerList'), refusedToken(/signature/));
    assert.equal(mode(join(m.home, 'jwt.secret')), '0600');
    const newAdmin = readFileSync(join(m.home, 'token'), 'utf8').trim();
    assert.notEqual(newAdmin, oldAdmin);
    await client(m, newAdmin).call('SealFleet.WorkerList');
    // The name test-worker was bound to a token that no longer verifies: a new token may take it.
    const fresh = await createToken(loadSecret(m.home, false), 'write');
    await client(m, fresh).call('Venus.WorkerPing', [{ Name: 'test-worker', Dest: `127.0.0.1:${new URL(worker.control.url).port}`, Version: 'v', Summary: SUMMARY }]);
  });
});

describe('manager and worker files', () => {
  it('are private: looser ones are tightened with a warning naming them and their old mode', async () => {
    const home = tempDir('modes');
    // A home that has run, with its files opened up as an older release (or a careless copy) left them.
    const first = await startTestManager(home);
    await first.daemon.kill();
    chmodSync(home, 0o755);
    // On PostgreSQL the database is the server's to protect: the home holds no database file.
    const dbFiles = testStore() === 'sqlite' ? ['manager.db'] : [];
    for (const f of ['jwt.secret', 'token', ...dbFiles]) chmodSync(join(home, f), 0o644);
    const daemon = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0', ...(await managerDbArgs(home))]);
    const warned = daemon.waitFor(/jwt\.secret was open to other users \(mode 0644\)/);
    const m = { home, url: (JSON.parse(await daemon.waitFor(/"manager up"/, 20_000)) as { url: string }).url };
    let w: TestWorker | undefined;
    try {
      await warned;
      assert.equal(mode(home), '0700');
      for (const f of ['jwt.secret', 'token', 'cluster-id', ...dbFiles.flatMap((d) => [d, `${d}-wal`, `${d}-shm`])]) assert.equal(mode(join(home, f)), '0600', f);
      assert.equal(mode(join(home, 'pieces')), '0700');
      const piece = join(tempDir('modes-piece'), 'piece.bin');
      writeFileSync(piece, randomBytes(1500), { mode: 0o644 });
      const imported = await cli(home, 'util', 'deals', 'import', piece);
      assert.equal(imported.code, 0, imported.stderr);
      for (const f of readdirSync(join(home, 'pieces'))) assert.equal(mode(join(home, 'pieces', f)), '0600', f);

      w = await startTestWorker(await writeWorkerConfig(join(home, 'worker'), m, { threads: [{ plan: 'sealer' }] }));
      const meta = join(home, 'worker', 'thread-0', 'meta');
      assert.equal(mode(meta), '0700');
      for (const f of readdirSync(meta)) assert.equal(mode(join(meta, f)), '0600', f);
    } finally {
      await w?.daemon.kill();
      await daemon.kill();
    }
  });
});

describe('chain token', () => {
  it('comes from a file, never from argv, and never shows in the log', async () => {
    const devnet = await startTestDevnet(tempDir('chain-devnet'), { toml: TEST_DEVNET_TOML, blockTime: '200ms' });
    const home = tempDir('chain-token');
    writeFileSync(join(home, 'manager.toml'), defaultDevnetConfig(join(home, 'persist')));
    const secret = `chain-secret-${randomBytes(8).toString('hex')}`;
    const tokenFile = join(home, 'chain.token');
    writeFileSync(tokenFile, `${secret}\n`, { mode: 0o600 });
    const refused = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--listen', '127.0.0.1:0', '--chain-api', devnet.url, '--chain-token', secret]);
    const started = await refused.waitFor(/"manager up"/, 20_000).then(() => true, () => false);
    assert.equal(await refused.kill(), 1, 'the daemon refuses to start');
    assert.ok(!started);
    assert.match(refused.stderr(), /--chain-token is no longer accepted .*--chain-token-file <path>.*SEALFLEET_CHAIN_TOKEN/);
    assert.ok(!refused.stderr().includes(secret), 'the error does not echo the token');

    const daemon = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--listen', '127.0.0.1:0', '--chain-api', `${devnet.url}?token=${secret}`, '--chain-token-file', tokenFile, ...(await managerDbArgs(home))]);
    try {
      const up = await daemon.waitFor(/"manager up"/, 20_000);
      assert.ok(!up.includes(secret), `the manager-up line shows no token: ${up}`);
      const argv = readFileSync(`/proc/${daemon.proc.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.includes('--chain-token-file'));
      // The URL above carried it only to check the log; the file is how operators pass it.
      assert.ok(!argv.some((a) => a === secret), `argv has no token: ${argv.join(' ')}`);
    } finally {
      await daemon.kill();
      await devnet.daemon.kill();
    }
  });
});
