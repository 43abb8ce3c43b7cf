import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import type { ThreadEvent } from '../../src/core/wire/workerControl.js';
import { fillDisk, mountTmpfs, tmpfsUnavailable } from '../helpers/disk.js';
import { eventually, QUICK_CHAIN_TOML, startTestManager } from '../helpers/manager.js';
import { runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

const LONG = 120_000;

describe('a worker whose disk fills up', () => {
  it('pauses the thread with the disk error instead of leaving it busy forever, and seals on once freed and resumed', { timeout: 300_000 }, async (t) => {
    const why = tmpfsUnavailable();
    if (why !== null) return t.skip(why);
    const home = tempDir('disk-full');
    const m = await startTestManager(home, { managerToml: `${QUICK_CHAIN_TOML}\n[[persist_stores]]\nname = "local"\npath = ${JSON.stringify(join(home, 'persist'))}\n` });
    const disk = join(tempDir('disk-full-worker'), 'disk');
    const unmount = await mountTmpfs(disk, '8m');
    try {
      // The step runs long enough for the disk to fill under it; two retries, so the failure soon pauses.
      const cfg = await writeWorkerConfig(disk, m, { threads: [{ plan: 'sealer' }], maxRetries: 2, mock: 'stage_times.pc1 = "3s"' });
      const w = await startTestWorker(cfg);
      try {
        const sector = await eventually('the thread in pc1', async () => {
          const [th] = await w.list();
          return th?.job_state === 'TicketAssigned' && th.thread_state.state === 'Running' ? th.job_id : undefined;
        }, LONG);
        const free = fillDisk(disk);
        const paused = await eventually('the thread paused with the disk error', async () => {
          const [th] = await w.list();
          return th?.thread_state.state === 'Paused' ? th : undefined;
        }, LONG).finally(free);
        assert.match(paused.last_error ?? '', /disk is full|ENOSPC/, `last_error names the cause: ${paused.last_error}`);
        assert.equal(paused.job_id, sector);

        const resumed = await runCli(WORKER_BIN, ['worker', '-c', cfg, 'resume', '-i', '0']);
        assert.equal(resumed.code, 0, resumed.stderr);
        await eventually(`${sector} finalized`, async () => {
          const rows = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);
          return rows.find((s) => s.Sector === sector)?.Status === 'finalized' ? true : undefined;
        }, LONG);

        // What the thread wrote holds together: no move it made is missing from its log.
        const log = await runCli(WORKER_BIN, ['worker', '-c', cfg, 'log', '-i', '0', '-n', '1000', '--json']);
        assert.equal(log.code, 0, log.stderr);
        const rows = (JSON.parse(log.stdout) as ThreadEvent[]).filter((e) => e.sector === sector);
        for (let i = 1; i < rows.length; i++) assert.equal(rows[i]?.from, rows[i - 1]?.to, `row ${i} starts where row ${i - 1} ended: ${JSON.stringify(rows)}`);
        assert.equal(rows.at(-1)?.to, 'Finished');
      } finally {
        await w.daemon.kill();
      }
    } finally {
      await m.daemon.kill();
      await unmount();
    }
  });
});
