import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatSectorId } from '../../src/core/sectorId.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

describe('a manager that lost its database (real processes)', () => {
  it('makes a sealing thread pause with the error, keeping its sector, state and files; it aborts nothing', async () => {
    const listen = `127.0.0.1:${await freePort()}`;
    const first = tempDir('unknown-first');
    // The replacement: a manager home whose (valid, empty) database never saw the sector, with the first
    // home's secret so the worker's token still works.
    const replacement = tempDir('unknown-replacement');
    await (await startTestManager(replacement)).daemon.kill();
    let m: TestManager = await startTestManager(first, { listen });
    copyFileSync(join(first, 'jwt.secret'), join(replacement, 'jwt.secret'));
    const dir = tempDir('unknown-worker');
    const cfg = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], mock: '[processors.mock.stage_times]\npc1 = "2s"\n' });
    let w: TestWorker | undefined;
    try {
      w = await startTestWorker(cfg);
      const worker = w;
      const sector = await eventually('the thread running PC1', async () => {
        const [t] = await worker.list();
        return t?.job_id && t.job_state === 'TicketAssigned' ? t.job_id : undefined;
      });
      await m.daemon.kill();
      m = await startTestManager(replacement, { listen });
      const paused = await eventually('the thread paused', async () => {
        const [t] = await worker.list();
        return t?.thread_state.state === 'Paused' ? t : undefined;
      }, 30_000);
      assert.equal(paused.job_id, sector, 'the thread keeps its sector');
      assert.ok(!['Aborted', 'Empty', ''].includes(paused.job_state), `state kept, not dropped: ${paused.job_state}`);
      assert.match(paused.last_error ?? '', /permanent: manager \w+: error code 11001: sector state not found \(s-t01000-1\): this manager has no record of the sector/);
      assert.match(paused.last_error ?? '', /check the manager's database .* resume this thread in state Aborted/);
      const data = join(dir, 'thread-0', 'data');
      assert.ok(existsSync(data) && readdirSync(data).length > 0, 'the sector files are still on disk');
      assert.equal(sector, formatSectorId({ miner: 1000, number: 1 }));

      // The operator's way out: drop the sector on purpose. The manager has nothing to mark aborted, and
      // that does not pause the thread again.
      for (const args of [['drain', '--index', '0'], ['resume', '--state', 'Aborted', '--index', '0']]) {
        const res = await runCli(WORKER_BIN, ['worker', '-c', cfg, ...args]);
        assert.equal(res.code, 0, res.stderr);
      }
      const drained = await eventually('the sector dropped', async () => {
        const [t] = await worker.list();
        return t?.job_stage === 'Drained' || t?.thread_state.state === 'Paused' ? t : undefined;
      });
      assert.deepEqual([drained.thread_state.state, drained.job_id, drained.last_error], ['Idle', null, null]);
      assert.ok(!existsSync(data), 'its files are removed');
    } finally {
      await w?.daemon.kill();
      await m.daemon.kill();
    }
  });
});
