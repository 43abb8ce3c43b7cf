import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { MANAGER_EVENT_SOURCE } from '../../src/manager/sectors/store.js';
import { eventually, QUICK_CHAIN_TOML, startTestManager } from '../helpers/manager.js';
import { freePort, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig } from '../helpers/worker.js';

const LONG = 120_000;

describe('reports of moves made while the manager is away', () => {
  it('are sent again once it is back, so its log of the sector has no hole', { timeout: 300_000 }, async () => {
    const home = tempDir('report-resend');
    const listen = `127.0.0.1:${await freePort()}`;
    const start = () => startTestManager(home, { listen, managerToml: `${QUICK_CHAIN_TOML}\n[[persist_stores]]\nname = "local"\npath = ${JSON.stringify(join(home, 'persist'))}\n` });
    let m = await start();
    // Enough retries to outlast the restart; pc1 long enough for the kill to land inside it.
    const cfg = await writeWorkerConfig(tempDir('report-resend-worker'), m, { threads: [{ plan: 'sealer' }], maxRetries: 10, mock: 'stage_times.pc1 = "2s"' });
    const w = await startTestWorker(cfg);
    try {
      const sector = await eventually('the thread in pc1', async () => {
        const [t] = await w.list();
        return t?.job_state === 'TicketAssigned' && t.thread_state.state === 'Running' ? t.job_id : undefined;
      }, LONG);
      await m.daemon.kill('SIGKILL');
      // pc1 and pc2 need no manager: their moves are made, and their reports wait for one.
      await eventually('pc2 done while the manager is away', async () => ((await w.list())[0]?.job_state === 'PC2Done' ? true : undefined), LONG);
      m = await start();
      await eventually(`${sector} finalized`, async () => {
        const rows = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);
        return rows.find((s) => s.Sector === sector)?.Status === 'finalized' ? true : undefined;
      }, LONG);
      const [miner, number] = (/^s-t0(\d+)-(\d+)$/.exec(sector ?? '') ?? []).slice(1).map(Number);
      const log = await m.call<SectorEvent[]>('SealFleet.SectorLog', [{ Miner: miner, Number: number }, 1000]);
      const moves = log.filter((e) => e.Worker !== MANAGER_EVENT_SOURCE && e.Prev !== e.Next);
      for (let i = 1; i < moves.length; i++) assert.equal(moves[i]?.Prev, moves[i - 1]?.Next, `move ${i} starts where move ${i - 1} ended: ${JSON.stringify(moves.map((e) => `${e.Prev}→${e.Next}`))}`);
      assert.ok(moves.some((e) => e.Prev === 'TicketAssigned' && e.Next === 'PC1Done'), 'the move made while the manager was away is in its log');
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });
});
