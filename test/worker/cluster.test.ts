import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LotusClient } from '../../src/chain/client.js';
import type { ThreadEvent } from '../../src/core/wire/workerControl.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

const sectors = (m: TestManager, status?: string) => m.call<SectorSummary[]>('SealFleet.SectorsList', [status ? { Status: status } : {}]);
const chainOf = (m: TestManager) => new LotusClient({ url: readFileSync(join(m.home, 'devnet', 'api'), 'utf8').trim() });

describe('worker and manager on the devnet (real processes)', () => {
  it('seals sectors with the sealer plan to Finished, then snaps one and rebuilds one', async () => {
    const m = await startTestManager(tempDir('cluster'));
    const dir = tempDir('cluster-worker');
    const payload = join(dir, 'deal.bin');
    writeFileSync(payload, randomBytes(1500));
    const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', m.home]);
    assert.equal(imported.code, 0, imported.stderr);
    const w = await startTestWorker(await writeWorkerConfig(dir, m));
    try {
      const done = await eventually('three sealed sectors', async () => {
        const rows = await sectors(m, 'finalized');
        return rows.length >= 3 ? rows : undefined;
      }, 60_000);
      const chain = chainOf(m);
      for (const s of done) assert.ok(await chain.stateSectorGetInfo('t01000', s.Number), `${s.Sector} is on chain`);
      const pieces = await m.call<{ Status: string }[]>('SealFleet.PiecesList');
      assert.equal(pieces[0]?.Status, 'sealed', 'the deal piece went into a sealed sector');
      const log = await m.call<{ Worker: string | null; Event: string | null }[]>('SealFleet.SectorLog', [{ Miner: 1000, Number: done[0]?.Number }]);
      assert.deepEqual(
        log.filter((e) => e.Worker !== 'manager').map((e) => e.Event),
        ['Allocate', 'AcquireDeals', 'AddPiece', 'BuildTreeD', 'AssignTicket', 'PC1', 'PC2', 'SubmitPC', 'CheckPC', 'Persist', 'SubmitPersistance', 'AssignSeed', 'C1', 'C2', 'SubmitProof', 'Finish'],
      );
      // The thread's own log keeps how long each step took, and how much of it was processor time: read
      // through the worker CLI, and through the manager, which finds the worker by its name.
      const config = join(dir, 'worker.toml');
      const logged = await runCli(WORKER_BIN, ['worker', '-c', config, 'log', '--index', '0', '--limit', '10000', '--json']);
      assert.equal(logged.code, 0, logged.stderr);
      const steps = (JSON.parse(logged.stdout) as ThreadEvent[]).filter((e) => (e.event === 'PC1' || e.event === 'AssignTicket') && e.took_ms !== null);
      assert.ok(steps.some((e) => e.event === 'PC1') && steps.some((e) => e.event === 'AssignTicket'), logged.stdout);
      for (const e of steps) {
        // Only that the time is counted and inside the step: a timer may fire a fraction of a millisecond before
        // its 20 ms as measured by another clock, so the exact figure is not a property of the code.
        if (e.event === 'PC1') assert.ok((e.processor_ms ?? 0) > 0 && (e.took_ms ?? 0) >= (e.processor_ms ?? 0), `PC1 ran its mock stage in a processor: ${JSON.stringify(e)}`);
        else assert.equal(e.processor_ms, 0, 'AssignTicket runs no processor');
      }
      const viaManager = await runCli(MANAGER_BIN, ['util', 'worker', 'log', 'test-worker', '0', '--limit', '3', '--home', m.home]);
      assert.equal(viaManager.code, 0, viaManager.stderr);
      const lines = viaManager.stdout.trimEnd().split('\n');
      assert.match(lines[0] ?? '', /^Time +Sector +Event +From +To +Took +Processors +Error$/);
      assert.equal(lines.length, 4, viaManager.stdout);
    } finally {
      await w.daemon.kill();
    }

    // A second worker with a snapup and a rebuild thread works on the finalized CC sectors.
    const finalized = await sectors(m, 'finalized');
    const rebuildTarget = finalized[finalized.length - 1];
    assert.ok(rebuildTarget);
    writeFileSync(payload, randomBytes(1800));
    assert.equal((await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', m.home])).code, 0);
    assert.equal((await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'rebuild', rebuildTarget.Sector, '--home', m.home])).code, 0);
    const dir2 = tempDir('cluster-worker2');
    const w2 = await startTestWorker(await writeWorkerConfig(dir2, m, { threads: [{ plan: 'snapup' }, { plan: 'rebuild' }] }));
    try {
      const snapped = await eventually('snap-up landed', async () => {
        const rows = await sectors(m, 'finalized');
        return rows.find((s) => s.Plan === 'snapup');
      }, 60_000);
      const info = await chainOf(m).stateSectorGetInfo('t01000', snapped.Number);
      assert.ok(info?.SectorKeyCID, 'the chain has the replica update');
      await eventually('rebuild finished', async () => {
        const log = await m.call<{ Event: string | null }[]>('SealFleet.SectorLog', [{ Miner: 1000, Number: rebuildTarget.Number }]);
        const start = log.findIndex((e) => e.Event === 'RebuildAllocated');
        return start >= 0 && log.slice(start).some((e) => e.Event === 'SubmitPersistance') ? true : undefined;
      }, 60_000);
    } finally {
      await w2.daemon.kill();
      await m.daemon.kill();
    }
  });

  it('pauses on a permanent error, refuses bad control input, and aborts on resume --state Aborted', async () => {
    const m = await startTestManager(tempDir('control'));
    const dir = tempDir('control-worker');
    const payload = join(dir, 'deal.bin');
    writeFileSync(payload, randomBytes(700));
    assert.equal((await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', m.home])).code, 0);
    // pc2 always fails (mock failure injection): processor errors are permanent, so the thread pauses.
    const cfg = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], mock: 'fail.pc2 = 1.0' });
    const w = await startTestWorker(cfg);
    const cli = (...args: string[]) => runCli(WORKER_BIN, ['worker', '-c', cfg, ...args]);
    try {
      const paused = await eventually('thread paused by the pc2 failure', async () => {
        const [t] = await w.list();
        return t?.thread_state.state === 'Paused' ? t : undefined;
      }, 30_000);
      assert.equal(paused.job_state, 'PC1Done');
      assert.match(paused.last_error ?? '', /mock failure injected at pc2/);

      const bad = await cli('resume', '--state', 'SnapEncoded', '--index', '0');
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /SnapEncoded/);
      // Empty would take a new sector and leave this one sealing at the manager forever.
      const empty = await cli('resume', '--state', 'Empty', '--index', '0');
      assert.equal(empty.code, 1);
      assert.equal(empty.stderr, `error: thread #0 holds sector ${paused.job_id ?? ''}: resuming in Empty would leave it sealing at the manager; resume in Aborted to drop it\n`);
      assert.equal((await w.list())[0]?.thread_state.state, 'Paused', 'the refused resume left the thread paused');
      const badIndex = await cli('pause', '--index', '5');
      assert.equal(badIndex.code, 1);
      assert.match(badIndex.stderr, /^error: thread #5 not found: worker test-worker has thread 0\n$/);
      assert.match((await cli('list')).stdout, /PC1Done/);

      // Drained first, so after the abort the thread takes no next sector that could pause before the
      // "not paused" check below.
      assert.equal((await cli('drain', '--index', '0')).code, 0);
      assert.equal((await cli('resume', '--state', 'Aborted', '--index', '0')).code, 0);
      const id = paused.job_id ?? '';
      await eventually('sector aborted at the manager', async () => ((await sectors(m, 'aborted')).some((s) => s.Sector === id) ? true : undefined));
      const pieces = await m.call<{ Status: string; Sector: string | null }[]>('SealFleet.PiecesList');
      assert.ok(pieces.some((p) => p.Status !== 'sealed'), 'the deal piece is back in the queue (or in the next sector), not lost');
      assert.ok(!pieces.some((p) => p.Sector === id), 'no piece stays with the aborted sector');
      const notPaused = await cli('resume', '--index', '0');
      assert.equal(notPaused.code, 1);
      assert.match(notPaused.stderr, /not paused/);
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });

  it('retries temporary failures with backoff, then pauses with the error once the budget is spent', async () => {
    const m = await startTestManager(tempDir('temporary'));
    const w = await startTestWorker(await writeWorkerConfig(tempDir('temporary-worker'), m, { threads: [{ plan: 'sealer' }], mock: 'stage_times.pc1 = "1s"' }));
    try {
      await eventually('pc1 running', async () => ((await w.list())[0]?.job_state === 'TicketAssigned' ? true : undefined));
      // The manager goes away: every call after pc1 fails, which is temporary.
      await m.daemon.kill('SIGKILL');
      const paused = await eventually('paused after the retries', async () => {
        const t = (await w.list())[0];
        return t?.thread_state.state === 'Paused' ? t : undefined;
      }, 30_000);
      assert.match(paused.last_error ?? '', /^permanent: manager .* \(after 3 retries\)$/);
      assert.equal(paused.job_state, 'PC2Done', 'the steps that need no manager went on; the result of each was kept');
    } finally {
      await w.daemon.kill();
    }
  });
});
