import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, QUICK_CHAIN_TOML, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

const MANAGER_TOML = `${QUICK_CHAIN_TOML}
[sectors]
orphan_after = "3s"

[[persist_stores]]
name = "local"
path = "PERSIST"
`;

const all = (m: TestManager) => m.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);

describe('crash safety (real processes, SIGKILL)', () => {
  it('every sector finishes, no number lost or duplicated, through 10 worker kills and a manager kill', async () => {
    const home = tempDir('crash');
    const listen = `127.0.0.1:${await freePort()}`;
    const start = () => startTestManager(home, { listen, managerToml: MANAGER_TOML.replace('PERSIST', `${home}/persist`) });
    let m = await start();
    const dir = tempDir('crash-worker');
    // The retry budget (about 50 s) outlasts a manager restart on a loaded machine: the threads must wait
    // for it, not pause, as they would with a budget shorter than the outage.
    const cfg = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }, { plan: 'sealer' }, { plan: 'sealer' }, { plan: 'sealer' }], maxRetries: 8 });
    let w = await startTestWorker(cfg);
    try {
      for (let i = 0; i < 10; i++) {
        await sleep(300 + Math.floor(Math.random() * 1200));
        await w.daemon.kill('SIGKILL');
        w = await startTestWorker(cfg);
        if (i === 5) {
          // The manager dies too; the worker keeps its threads and retries until it is back.
          await m.daemon.kill('SIGKILL');
          await sleep(500);
          m = await start();
        }
      }
      const drained = await runCli(WORKER_BIN, ['worker', '-c', cfg, 'drain']);
      assert.equal(drained.code, 0, drained.stderr);
      const rows = await eventually('every allocated sector finished', async () => {
        const s = await all(m);
        return s.length > 0 && s.every((x) => x.Status !== 'sealing') ? s : undefined;
      }, 120_000).catch(async (err: Error) => {
        // What was left, for the next engineer: the sectors still sealing and what each thread was doing.
        const left = (await all(m)).filter((x) => x.Status === 'sealing').map((x) => `${x.Sector} ${x.State ?? '-'}`);
        const threads = (await w.list()).map((t) => `#${t.index} ${t.job_id ?? '-'} ${t.job_state} ${t.thread_state.state} ${t.last_error ?? ''}`);
        throw new Error(`${err.message}; still sealing: ${left.join(', ')}; threads: ${threads.join(' | ')}`);
      });
      const numbers = rows.map((s) => s.Number).sort((a, b) => a - b);
      assert.deepEqual(numbers, numbers.map((_, i) => i + 1), 'numbers 1..n, none lost, none twice');
      // A worker killed between AllocateSector and recording the number leaves an orphan, which the
      // manager releases after orphan_after (nobody asks for work once the fleet is drained).
      const aborted = rows.filter((s) => s.Status !== 'finalized' && !(s.Orphaned && s.State === null));
      assert.deepEqual(aborted, [], 'no sector was aborted but orphans');
      const threads = await w.list();
      assert.ok(threads.every((t) => t.thread_state.state !== 'Paused'), JSON.stringify(threads));
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });
});
