import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import type { ThreadEvent, WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

async function importPiece(m: TestManager): Promise<string> {
  const file = join(tempDir('fetch-piece'), 'deal.bin');
  writeFileSync(file, randomBytes(1500));
  const r = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split(/\s+/)[0] as string;
}

const thread = async (w: TestWorker, i = 0): Promise<WorkerThreadInfo> => (await w.list())[i] as WorkerThreadInfo;
const threadLog = (w: TestWorker, i = 0) => w.control.call<ThreadEvent[]>('VenusWorker.WorkerLog', [i, 10_000]);
const finalized = async (m: TestManager) => m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);

describe('piece fetching and the finish step (real manager and worker)', () => {
  it('pauses on a missing piece with a clear error and no token anywhere, and finishes once the file is back', async () => {
    const m = await startTestManager(tempDir('fetch-missing'));
    const cid = await importPiece(m);
    const path = join(m.home, 'pieces', cid);
    renameSync(path, `${path}.away`);
    const dir = tempDir('fetch-missing-worker');
    const w = await startTestWorker(await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }] }));
    try {
      const paused = await eventually('the thread paused on the missing piece', async () => {
        const t = await thread(w);
        return t.thread_state.state === 'Paused' ? t : undefined;
      });
      assert.match(paused.last_error ?? '', new RegExp(`^permanent: add_pieces \\(mock\\): GET http://127\\.0\\.0\\.1:\\d+/piecestore/${cid}: HTTP 503 Service Unavailable: piece ${cid} is imported but its file is missing.* \\(after \\d+ retries\\)$`));
      const token = readFileSync(join(m.home, 'token'), 'utf8').trim();
      const sector = paused.job_id as string;
      const places: Record<string, string> = {
        'SealFleet.SectorLog': JSON.stringify(await m.call<SectorEvent[]>('SealFleet.SectorLog', [{ Miner: 1000, Number: Number(sector.split('-')[2]) }])),
        'VenusWorker.WorkerList': JSON.stringify(await w.list()),
        'worker stdout': w.daemon.stdout(),
        'worker stderr': w.daemon.stderr(),
        'manager stdout': m.daemon.stdout(),
      };
      for (const file of ['sealfleet.db', 'sealfleet.db-wal']) {
        const p = join(dir, 'thread-0', 'meta', file);
        if (existsSync(p)) places[`worker meta ${file}`] = readFileSync(p).toString('latin1');
      }
      assert.match(places['SealFleet.SectorLog'] ?? '', /HTTP 503/, 'the failure reached the manager');
      for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(token), `the token appears in ${where}`);

      renameSync(`${path}.away`, path);
      await w.control.call('VenusWorker.WorkerResume', [0, null]);
      await eventually('the sector finalized', async () => ((await finalized(m)).some((s) => s.Sector === sector) ? true : undefined), 30_000);
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });

  it('retries a piece fetch while the manager is down, and finishes the sector once it is back', async () => {
    const home = tempDir('fetch-restart');
    const listen = `127.0.0.1:${await freePort()}`;
    let m = await startTestManager(home, { listen });
    await importPiece(m);
    const w = await startTestWorker(await writeWorkerConfig(tempDir('fetch-restart-worker'), m, { threads: [{ plan: 'sealer' }], maxRetries: 10, mock: 'stage_times.add_pieces = "1s"' }));
    try {
      await eventually('add_pieces running', async () => ((await thread(w)).job_state === 'DealsAcquired' ? true : undefined));
      await m.daemon.kill('SIGKILL');
      await w.daemon.waitFor(/add_pieces \(mock\): GET .*ECONNREFUSED.*"msg":"temporary failure; retrying"/, 20_000);
      m = await startTestManager(home, { listen });
      await eventually('the sector finalized', async () => ((await finalized(m)).length > 0 ? true : undefined), 60_000);
      const t = await thread(w);
      assert.equal(t.last_error, null);
      assert.ok(!(await threadLog(w)).some((e) => e.level === 'Permanent'), 'no permanent failure');
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });

  it('backs off a failing finish step and pauses after max_retries instead of looping', async () => {
    const m = await startTestManager(tempDir('finish-fail'));
    const w = await startTestWorker(await writeWorkerConfig(tempDir('finish-fail-worker'), m, { threads: [{ plan: 'sealer' }], maxRetries: 2, mock: 'stage_times.pc1 = "1s"' }));
    try {
      await eventually('pc1 running', async () => ((await thread(w)).job_state === 'TicketAssigned' ? true : undefined));
      await w.control.call('VenusWorker.WorkerPause', [0]);
      await eventually('paused', async () => ((await thread(w)).thread_state.state === 'Paused' ? true : undefined));
      await m.daemon.kill('SIGKILL');
      await w.control.call('VenusWorker.WorkerResume', [0, 'Aborted']);
      const paused = await eventually('paused after the finish step failed', async () => {
        const t = await thread(w);
        return t.thread_state.state === 'Paused' ? t : undefined;
      }, 30_000);
      assert.match(paused.last_error ?? '', /^permanent: manager ReportAborted: .* \(after 2 retries\)$/);
      const retries = (await threadLog(w)).filter((e) => e.event === 'Retry' && e.from === 'Aborted');
      assert.equal(retries.length, 3, 'one try and two retries');
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });

  it('ends a snap-up aborted mid-way once on both sides', async () => {
    const m = await startTestManager(tempDir('snap-abort'));
    const cc = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]));
    await cc.sealAll(join(m.home, 'persist'));
    await importPiece(m);
    const w = await startTestWorker(await writeWorkerConfig(tempDir('snap-abort-worker'), m, { threads: [{ plan: 'snapup' }], mock: 'stage_times.snap_encode = "1s"' }));
    const name = `s-t01000-${cc.id.Number}`;
    try {
      await eventually(`snap_encode of ${name} running`, async () => ((await thread(w)).job_state === 'TreeDBuilt' ? true : undefined));
      const r = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'abort', name, '--home', m.home]);
      assert.equal(r.code, 0, r.stderr);
      await w.control.call('VenusWorker.WorkerDrain', [0]);
      await eventually('the thread is empty and drained', async () => {
        const t = await thread(w);
        return t.job_state === '' && t.job_stage === 'Drained' ? true : undefined;
      }, 30_000);
      const ping = async () => (await m.call<{ Name: string; LastPing: number }[]>('SealFleet.WorkerList')).find((x) => x.Name === 'test-worker')?.LastPing ?? 0;
      const nextPing = async () => {
        const before = await ping();
        await eventually('another ping', async () => ((await ping()) > before ? true : undefined));
      };
      // Reports reach the manager off the step path, in order, and may still be on their way when the thread
      // shows Empty: first wait until the manager holds the report of the worker's last step of the sector.
      await eventually("the worker's reports of the sector arrived", async () => {
        const steps = (await threadLog(w)).filter((e) => e.sector === name && e.level === null && e.to !== 'Aborted');
        const last = steps[steps.length - 1];
        const logged = await m.call<SectorEvent[]>('SealFleet.SectorLog', [cc.id]);
        return last && logged.some((e) => e.Worker === 'test-worker' && e.Event === last.event && e.Next === last.to) ? true : undefined;
      }, 30_000);
      // Then both logs must hold still across a ping (a looping abort never does), and stay so.
      const counts = async () => [(await m.call<SectorEvent[]>('SealFleet.SectorLog', [cc.id])).length, (await threadLog(w)).length] as const;
      const [managerEvents, workerEvents] = await eventually('both logs of the sector at rest', async () => {
        const before = await counts();
        await nextPing();
        const after = await counts();
        return before[0] === after[0] && before[1] === after[1] ? after : undefined;
      }, 30_000);
      for (let i = 0; i < 3; i++) await nextPing();
      const events = await m.call<SectorEvent[]>('SealFleet.SectorLog', [cc.id]);
      assert.equal(events.length, managerEvents, 'the manager\'s log of the sector stopped growing');
      assert.equal((await threadLog(w)).length, workerEvents, 'the worker\'s log stopped growing');
      assert.equal(events.filter((e) => e.Event === 'Aborted').length, 1);
      assert.equal((await m.call<{ Status: string }>('SealFleet.SectorState', [cc.id])).Status, 'finalized');
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });
});
