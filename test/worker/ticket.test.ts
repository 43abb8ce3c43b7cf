import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager } from '../helpers/manager.js';
import { runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

/** A chain that accepts tickets up to 30 epochs (3 s) old, and a manager that leaves the check to it. */
const DEVNET = `
[chain]
block_time = "100ms"
pre_commit_challenge_delay = 2
max_pre_commit_randomness_lookback = 30
`;
const MANAGER = (home: string) => `
[chain]
seal_randomness_lookback = 5
seed_confidence = 1
message_confidence = 1
poll_interval = "300ms"
max_pre_commit_randomness_lookback = 100000

[[miners]]
id = 1000
sender = "t0100"

[[persist_stores]]
name = "local"
path = "${home}/persist"
`;

describe('ticket expiry', () => {
  it('keeps a step result across a pause, and resume --state TreeDBuilt after an expired ticket finishes the sector', async () => {
    const home = tempDir('ticket');
    mkdirSync(join(home, 'devnet'), { recursive: true });
    writeFileSync(join(home, 'devnet', 'devnet.toml'), DEVNET);
    const m = await startTestManager(home, { managerToml: MANAGER(home) });
    const cfg = await writeWorkerConfig(tempDir('ticket-worker'), m, { threads: [{ plan: 'sealer' }], mock: 'stage_times.pc1 = "1500ms"', sealing: 'ticket_expiry_check = false' });
    const w = await startTestWorker(cfg);
    const cli = (...args: string[]) => runCli(WORKER_BIN, ['worker', '-c', cfg, ...args]);
    try {
      await eventually('pc1 running', async () => ((await w.list())[0]?.job_state === 'TicketAssigned' ? true : undefined));
      assert.equal((await cli('pause', '--index', '0')).code, 0);
      const paused = await eventually('paused after pc1', async () => {
        const t = (await w.list())[0];
        return t?.thread_state.state === 'Paused' ? t : undefined;
      });
      assert.equal(paused.job_state, 'PC1Done', 'the running pc1 finished and its result was kept');
      assert.equal(paused.last_error, null, 'an operator pause is not an error');
      await sleep(3500);
      assert.equal((await cli('resume', '--index', '0')).code, 0);
      const failed = await eventually('pre-commit refused by the chain', async () => {
        const t = (await w.list())[0];
        return t?.thread_state.state === 'Paused' ? t : undefined;
      }, 30_000);
      assert.match(failed.last_error ?? '', /exit code 16/);
      assert.equal(failed.job_state, 'PCSubmitted');

      const resumed = await cli('resume', '--state', 'TreeDBuilt', '--index', '0');
      assert.equal(resumed.code, 0, resumed.stderr);
      const done = await eventually('sector finished', async () => {
        const rows = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
        return rows.find((s) => s.Sector === failed.job_id);
      }, 60_000);
      const log = await m.call<{ Event: string | null }[]>('SealFleet.SectorLog', [{ Miner: done.Miner, Number: done.Number }]);
      assert.equal(log.filter((e) => e.Event === 'AssignTicket').length, 2, 'a second ticket was assigned');
    } finally {
      await w.daemon.kill();
      await m.daemon.kill();
    }
  });
});
