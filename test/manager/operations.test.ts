import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { method, RpcServer, serveHttp } from '../../src/core/rpc/server.js';
import { SubmitResult, type AllocatedSector } from '../../src/core/wire/sealer.js';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import { startTestManager } from '../helpers/manager.js';
import { MANAGER_BIN, ROOT, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];
const util = (home: string, ...args: string[]) => runCli(MANAGER_BIN, ['util', ...args, '--home', home]);
/**
 * Durations and times change from run to run (and with them the column widths): golden output compares
 * the cells of each row, the two-space column gaps marking where one cell ends.
 */
const scrub = (text: string): string[][] =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => line.split(/ {2,}/).map((cell) => cell.replace(/^\d+(ms|s|m\d+s|m|h\d+m|h)\b/, '<dur>').replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/, '<time>')));
const rows = (...lines: string[]): string[][] => lines.map((l) => l.split(/ {2,}/));

describe('manager operations', () => {
  it('refuses calls without the right token', async () => {
    const m = await startTestManager(tempDir('manager-auth'));
    try {
      await assert.rejects(new RpcClient({ url: `${m.url}/rpc/v0` }).call('Venus.AllocateSector', SPEC), (e: RpcError) => e.code === RPC_CODES.Unauthorized);
      const forged = await fetch(`${m.url}/rpc/v0`, { method: 'POST', headers: { authorization: 'Bearer a.b.c', 'content-type': 'application/json' }, body: '{}' });
      assert.equal(forged.status, 401);
      const read = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'read', '--home', m.home]);
      assert.equal(read.code, 0, read.stderr);
      const reader = new RpcClient({ url: `${m.url}/rpc/v0`, token: read.stdout.trim() });
      await assert.rejects(reader.call('Venus.AllocateSector', SPEC), (e: RpcError) => e.code === RPC_CODES.Unauthorized && /need 'write'/.test(e.message));
      assert.deepEqual(await reader.call('SealFleet.SectorsList', [{}]), []);
      const write = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'write', '--home', m.home]);
      const writer = new RpcClient({ url: `${m.url}/rpc/v0`, token: write.stdout.trim() });
      assert.equal((await writer.call<AllocatedSector>('Venus.AllocateSector', SPEC)).ID.Number, 1);
      await assert.rejects(writer.call('SealFleet.SectorAbort', [{ Miner: 1000, Number: 1 }, 'x']), (e: RpcError) => e.code === RPC_CODES.Unauthorized && /need 'admin'/.test(e.message));
      const bad = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'root', '--home', m.home]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid permission "root": expected one of read, write, sign, admin/);
      assert.equal((await fetch(`${m.url}/healthz`)).status, 200);
      const metrics = await (await fetch(`${m.url}/metrics`)).text();
      assert.match(metrics, /sealfleet_sectors\{status="sealing",plan="sealer",state=""\} 1/);
      assert.match(metrics, /sealfleet_rpc_duration_seconds_count\{method="Venus.AllocateSector",outcome="ok"\} 1/);
    } finally {
      await m.daemon.kill();
    }
  });

  it('loses no acknowledged write when killed with SIGKILL between calls', async () => {
    const home = tempDir('manager-kill');
    let m = await startTestManager(home);
    const a = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
    await a.prepare();
    assert.equal((await a.submitPreCommit()).Res, SubmitResult.Accepted);
    await m.daemon.kill('SIGKILL');

    m = await startTestManager(home);
    try {
      const b = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      assert.equal(b.ID.Number, a.id.Number + 1, 'numbering continues, nothing reused');
      const again = new FakeSealer(m, a.sector);
      again.ticket = a.ticket;
      assert.equal((await again.submitPreCommit()).Res, SubmitResult.Accepted, 'the stored pre-commit survived (identical data accepted)');
      const mismatch = await m.call<{ Res: number }>('Venus.SubmitPreCommit', [a.sector, { ...a.preCommitInfo(), CommR: Array(32).fill(1) }, false]);
      assert.equal(mismatch.Res, SubmitResult.MismatchedSubmission);
      await again.waitLanded('Venus.PollPreCommitState');
      const log = await m.call<{ Worker: string; Event: string }[]>('SealFleet.SectorLog', [a.id]);
      assert.deepEqual(log.filter((e) => e.Worker !== 'manager').map((e) => e.Event), ['Allocate', 'AcquireDeals', 'AssignTicket']);
      assert.deepEqual(
        log.filter((e) => e.Worker === 'manager').map((e) => e.Event),
        ['SectorAllocated', 'DealsAcquired', 'TicketAssigned', 'PreCommitQueued', 'PreCommitSent'],
        'the manager\'s own transitions, each logged once: the identical pre-commit after the restart changed nothing',
      );
    } finally {
      await m.daemon.kill();
    }
  });

  it('prints workers and sectors as tables, and proxies worker control', async () => {
    const m = await startTestManager(tempDir('manager-cli'));
    const threads: WorkerThreadInfo[] = [
      { location: '/mnt/store1', plan: 'sealer', job_id: 's-t01000-2', index: 0, thread_state: { state: 'Paused', elapsed: 822 }, job_state: 'C1Done', job_stage: 'C2', last_error: 'permanent: no cached parameters' },
      { location: '/mnt/store2', plan: 'sealer', job_id: null, index: 1, thread_state: { state: 'Idle' }, job_state: '', job_stage: null, last_error: null },
    ];
    const calls: unknown[][] = [];
    const control = new RpcServer().register({
      'VenusWorker.WorkerList': method([], () => threads),
      'VenusWorker.WorkerPause': method([z.number().int()], (i) => {
        calls.push(['pause', i]);
        if (i > 1) throw new RpcError(RPC_CODES.InvalidParams, `worker #${i} not found`);
        return true;
      }),
      'VenusWorker.WorkerResume': method([z.number().int(), z.string().nullable()], (i, s) => {
        calls.push(['resume', i, s]);
        return true;
      }),
    });
    const http = await serveHttp('127.0.0.1:0', { '/': (req, res) => control.handle(req, res) });
    const dest = http.url.replace('http://', '');
    try {
      const summary = { Threads: 2, Empty: 1, Paused: 1, Running: 0, Waiting: 0, Errors: 1 };
      await m.call('Venus.WorkerPing', [{ Name: 'worker-a', Dest: dest, Version: 'v0.1.0', Summary: summary }]);
      await m.call('Venus.WorkerPing', [{ Name: 'worker-b', Dest: '127.0.0.1:9', Version: 'v0.1.0', Summary: { ...summary, Paused: 0, Errors: 0 } }]);

      const list = await util(m.home, 'worker', 'list');
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(scrub(list.stdout), rows(
        'Name  Dest  Threads  Empty  Paused  Errors  LastPing(with ! if expired)',
        `worker-a  ${dest}  2  1  1  1  <dur>`,
        'worker-b  127.0.0.1:9  2  1  0  0  <dur>',
      ));
      const expired = await util(m.home, 'worker', 'list', '--expire', '0s');
      assert.match(expired.stdout, /worker-a .* \(!\)\n/);

      const info = await util(m.home, 'worker', 'info', 'worker-a');
      assert.equal(info.code, 0, info.stderr);
      assert.equal(info.stdout, [
        'Index  Loc          SectorID    Paused  PausedElapsed  State   LastErr',
        '0      /mnt/store1  s-t01000-2  true    13m42s         C1Done  permanent: no cached parameters',
        '1      /mnt/store2  -           false   -              -       -',
        '',
      ].join('\n'));
      const byAddress = await util(m.home, 'worker', 'info', dest, '--json');
      assert.deepEqual(JSON.parse(byAddress.stdout), threads);

      assert.equal((await util(m.home, 'worker', 'pause', 'worker-a', '0')).code, 0);
      assert.equal((await util(m.home, 'worker', 'resume', 'worker-a', '0', 'TreeDBuilt')).code, 0);
      assert.deepEqual(calls, [['pause', 0], ['resume', 0, 'TreeDBuilt']]);

      const badIndex = await util(m.home, 'worker', 'pause', 'worker-a', '7');
      assert.equal(badIndex.code, 1);
      assert.equal(badIndex.stderr, 'error: worker #7 not found\n');
      const unreachable = await util(m.home, 'worker', 'info', 'worker-b');
      assert.equal(unreachable.code, 1);
      assert.match(unreachable.stderr, /^error: worker worker-b at http:\/\/127\.0\.0\.1:9\/ is unreachable/);
      assert.equal(unreachable.stderr.split('\n').length, 2, 'one line');
      const unknown = await util(m.home, 'worker', 'info', 'no such worker');
      assert.equal(unknown.code, 1);
      assert.equal(unknown.stderr, 'error: no worker named "no such worker" has pinged this manager; known workers: worker-a, worker-b\n');
      const notIndex = await util(m.home, 'worker', 'pause', 'worker-a', 'x');
      assert.notEqual(notIndex.code, 0);
      assert.match(notIndex.stderr, /invalid thread index "x"/);

      const s = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
      await s.report('Empty', 'Allocated', 'Allocate');
      await s.report('Allocated', 'DealsAcquired', 'AcquireDeals');
      await s.report('DealsAcquired', 'DealsAcquired', 'AddPiece', { Level: 'Temporary', Desc: 'piece store unreachable' });
      const sectors = await util(m.home, 'sealer', 'sectors', 'list');
      assert.deepEqual(scrub(sectors.stdout), rows(
        'Sector  Status  Plan  State  Worker  Updated  Note',
        's-t01000-1  sealing  sealer  DealsAcquired  test-worker  <dur> ago  -',
      ));
      assert.equal((await util(m.home, 'sealer', 'sectors', 'list', '--state', 'PC1Done')).stdout, 'Sector  Status  Plan  State  Worker  Updated  Note\n');
      const log = await util(m.home, 'sealer', 'sectors', 'log', 's-t01000-1');
      assert.deepEqual(scrub(log.stdout), rows(
        'Time  Since start  Took  Worker  From  Event  To  Failure',
        '<time>  <dur>  -  manager  -  SectorAllocated  sealer/allocated  -',
        '<time>  <dur>  <dur>  test-worker  Empty  Allocate  Allocated  -',
        '<time>  <dur>  <dur>  test-worker  Allocated  AcquireDeals  DealsAcquired  -',
        '<time>  <dur>  <dur>  test-worker  DealsAcquired  AddPiece  DealsAcquired  Temporary: piece store unreachable',
      ));
      const st = await util(m.home, 'sealer', 'sectors', 'state', 's-t01000-1', '--json');
      assert.equal(JSON.parse(st.stdout).State, 'DealsAcquired');
      const badSector = await util(m.home, 'sealer', 'sectors', 'state', 's-t01000');
      assert.notEqual(badSector.code, 0);
      assert.match(badSector.stderr, /invalid sector id "s-t01000": expected s-t0<miner>-<number>/);
      const missing = await util(m.home, 'sealer', 'sectors', 'log', 's-t01000-77');
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^error: error code 11001: sector state not found \(s-t01000-77\): this manager has no record of the sector\n$/);
      const noDaemon = await runCli(MANAGER_BIN, ['util', 'worker', 'list', '--home', tempDir('empty-home')]);
      assert.equal(noDaemon.code, 1);
      assert.match(noDaemon.stderr, /is the manager daemon running with --home/);
      const noFile = await util(m.home, 'deals', 'import', join(tempDir('no-file'), 'nope.bin'));
      assert.equal(noFile.code, 1);
      assert.match(noFile.stderr, /cannot import .*nope\.bin: no such file/);
      const big = join(tempDir('too-big'), 'big.bin');
      writeFileSync(big, readFileSync(join(ROOT, 'README.md')));
      const tooBig = await util(m.home, 'deals', 'import', big);
      assert.equal(tooBig.code, 1);
      assert.match(tooBig.stderr, /big\.bin: its \d+KiB piece does not fit in 2KiB sectors\n$/);
      assert.ok(readFileSync(join(m.home, 'api'), 'utf8').startsWith('http://127.0.0.1:'));
    } finally {
      await http.close();
      await m.daemon.kill();
    }
  });
});
