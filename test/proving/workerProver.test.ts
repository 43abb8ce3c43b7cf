import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fromRunsJson } from '../../src/chain/bitfield.js';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { WdPoStJobView } from '../../src/core/wire/wdpost.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { devnetPostsByDeadline, devnetProvenOpenings, provingDevnetToml, startTestDevnet, TEST_MINER, type TestDevnet } from '../helpers/devnet.js';
import { eventually, managerDbArgs, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, spawnCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/**
 * Four deadlines of 60 epochs of 200 ms (12 s each, a period every 48 s), one sector per partition so that the
 * sectors spread over several deadlines: a job comes every deadline or two.
 */
const WINDOW = 60;
const PERIOD = 4 * WINDOW;
const DEVNET_TOML = provingDevnetToml(WINDOW, 'window_post_partition_sectors = { "2KiB" = 1 }\n');

const WORKER_PROVER = `
[proving]
proofs = "mock"

[proving.worker_prover]
enable = true
job_max_try = 2
heartbeat_timeout = "3s"
fallback_after = "2s"
`;

async function startManager(home: string, net: TestDevnet): Promise<TestManager> {
  const toml = defaultDevnetConfig(join(home, 'persist'))
    .replace('poll_interval = "1s"', `poll_interval = "200ms"\n${WORKER_PROVER}`)
    .replace('init_number = 0', 'init_number = 0\nmax_number = 3');
  writeFileSync(join(home, 'manager.toml'), toml);
  const daemon = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--chain-api', net.url, '--listen', '127.0.0.1:0', ...(await managerDbArgs(home))]);
  const line = await daemon.waitFor(/"manager up"/, 30_000);
  const url = (JSON.parse(line) as { url: string }).url;
  const rpc = new RpcClient({ url: `${url}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim(), timeoutMs: 20_000 });
  return { home, url, rpc, daemon, call: (m, p = []) => rpc.call(m, p) };
}

/** A worker with one wdpost thread on mock processors; `windowPost` is its window_post stage time. */
async function wdpostWorker(m: TestManager, name: string, windowPost = '20ms'): Promise<TestWorker> {
  const config = await writeWorkerConfig(tempDir(`wdpost-${name}`), m, { name, threads: [{ plan: 'wdpost' }], mock: `stage_times = { window_post = "${windowPost}" }\n` });
  return startTestWorker(config);
}

const jobs = (m: TestManager): Promise<WdPoStJobView[]> => m.call<WdPoStJobView[]>('SealFleet.WdPoStJobs');
const ID = 'a'.repeat(64);

describe('worker WindowPoSt jobs', () => {
  it('workers prove deadlines; the manager falls back when none does or one dies; no deadline is proven twice', async () => {
    const net = await startTestDevnet(tempDir('wdpost-devnet'), { toml: DEVNET_TOML, blockTime: '200ms' });
    const home = tempDir('wdpost-manager');
    const m = await startManager(home, net);
    const workers: TestWorker[] = [];
    try {
      // Bad params to each method are refused with the reason, and the daemon goes on serving.
      const refused = async (method: string, params: unknown[], why: RegExp): Promise<void> => {
        await assert.rejects(m.call(method, params), (err: Error) => {
          assert.match(err.message, why, `${method}(${JSON.stringify(params)})`);
          return true;
        });
      };
      await refused('Venus.WdPoStAllocateJobs', [{ AllowedMiners: 'all' }, 1, 'w'], /AllowedMiners.*expected array/i);
      await refused('Venus.WdPoStAllocateJobs', [{}, 0, 'w'], /expected at least 1 job/);
      await refused('Venus.WdPoStAllocateJobs', [{}, 1, ''], /expected a non-empty name/);
      await refused('Venus.WdPoStHeartbeatJobs', [['not-a-job'], 'w'], /expected a job id \(64 hex digits\)/);
      await refused('Venus.WdPoStHeartbeatJobs', [[ID], 'w'], new RegExp(`no WindowPoSt job ${ID}`));
      await refused('Venus.WdPoStFinishJob', [ID, { Proofs: 'x', Faults: [] }, ''], /Proofs.*expected array/i);
      await refused('Venus.WdPoStFinishJob', [ID, { Proofs: ['!!'], Faults: [] }, ''], /expected base64/);
      await refused('Venus.WdPoStFinishJob', [ID, null, '', 'w'], new RegExp(`no WindowPoSt job ${ID}: it was removed`));
      await refused('SealFleet.WdPoStResetJob', ['zz'], /expected a job id/);
      await refused('SealFleet.WdPoStResetJob', [ID], new RegExp(`no WindowPoSt job ${ID}`));
      await refused('SealFleet.WdPoStRemoveJob', [ID], new RegExp(`no WindowPoSt job ${ID}`));
      await refused('SealFleet.WdPoStJobs', [1], /wrong param count for SealFleet.WdPoStJobs: expected 0, got 1/);
      assert.deepEqual(await jobs(m), []);

      // Sealing; no wdpost worker yet, so the first deadlines are proven by the manager after fallback_after.
      const sealer = await startTestWorker(await writeWorkerConfig(tempDir('wdpost-sealer'), m, { threads: [{ plan: 'sealer' }] }));
      await eventually('3 sealed sectors', async () => ((await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }])).length >= 3 ? true : undefined), 120_000);
      await sealer.daemon.kill();
      const fellBack = await eventually('a deadline proven by the manager', async () => (await jobs(m)).find((j) => j.FallbackAt !== null), 60_000);
      assert.equal(fellBack.State, 'finished');
      assert.equal(fellBack.TryNum, 0);
      assert.match(fellBack.Error ?? '', /no worker took the job within fallback_after/);

      // A wdpost worker takes the next jobs: its mock proofs land.
      const w1 = await wdpostWorker(m, 'gpu-1');
      workers.push(w1);
      const [thread] = await w1.list();
      assert.equal(thread?.plan, 'wdpost');
      const proven = await eventually('a deadline proven by the worker', async () => (await jobs(m)).find((j) => j.Worker === 'gpu-1' && j.State === 'finished'), 60_000);
      assert.deepEqual({ proven: proven.Proven, fallback: proven.FallbackAt, error: proven.Error, tries: proven.TryNum }, { proven: true, fallback: null, error: null, tries: 1 });
      const listed = await runCli(MANAGER_BIN, ['util', 'worker', 'wdpost', 'list', '--home', home, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok((JSON.parse(listed.stdout) as WdPoStJobView[]).some((j) => j.ID === proven.ID && j.Worker === 'gpu-1' && j.Proven));
      const table = await runCli(MANAGER_BIN, ['util', 'worker', 'wdpost', 'list', '--home', home]);
      assert.match(table.stdout, new RegExp(`${proven.ID}.*finished.*gpu-1.*proven`));
      await w1.daemon.kill();

      // A worker killed while it proves: heartbeat timeout, the job goes back to the queue, and with no worker
      // to take it the manager proves the deadline.
      const w2 = await wdpostWorker(m, 'gpu-2', '10min');
      workers.push(w2);
      const taken = await eventually('a job running on gpu-2', async () => (await jobs(m)).find((j) => j.Worker === 'gpu-2' && j.State === 'running'), 60_000);
      const provenBefore = devnetProvenOpenings(net.home).size;
      await w2.daemon.kill('SIGKILL');
      const recovered = await eventually('the dead worker\'s job proven by the manager', async () => (await jobs(m)).find((j) => j.ID === taken.ID && j.FallbackAt !== null), 30_000);
      // One try with job_max_try 2: the timed-out job went back to the queue, and fell back from there.
      assert.deepEqual({ tries: recovered.TryNum, error: recovered.Error, worker: recovered.Worker }, { tries: 1, error: 'heartbeat timeout', worker: 'gpu-2' });
      await eventually('its deadline proven', async () => (devnetProvenOpenings(net.home).size > provenBefore ? true : undefined), 30_000);
      // The dead worker's proof, had it come, is refused: the job is no longer its own.
      await refused('Venus.WdPoStFinishJob', [taken.ID, { Proofs: [], Faults: [] }, '', 'gpu-2'], /is not held by worker "gpu-2": it is finished: proven by the manager/);

      // The operator resets a job (back in the queue, tries forgotten) and removes it, by damocles' commands.
      const reset = await runCli(MANAGER_BIN, ['util', 'worker', 'wdpost', 'reset', taken.ID, '--home', home]);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stdout, new RegExp(`job ${taken.ID} is ready to run again`));
      const again = (await jobs(m)).find((j) => j.ID === taken.ID);
      assert.deepEqual({ state: again?.State, tries: again?.TryNum, fallback: again?.FallbackAt }, { state: 'ready2run', tries: 0, fallback: null });
      const removed = await runCli(MANAGER_BIN, ['util', 'worker', 'wdpost', 'remove', taken.ID, '--home', home]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal((await jobs(m)).find((j) => j.ID === taken.ID), undefined);
      const unknown = await runCli(MANAGER_BIN, ['util', 'worker', 'wdpost', 'reset', taken.ID, '--home', home]);
      assert.notEqual(unknown.code, 0);
      assert.match(unknown.stderr, new RegExp(`no WindowPoSt job ${taken.ID}: see util worker wdpost list`));

      // A worker whose proof outlasts the deadline (a stuck or slow GPU) cannot make it be missed: in the last
      // quarter of the window the manager proves it, and the worker's late finish is refused. The operator pauses
      // that thread and drops the job, through the manager.
      const w3 = await wdpostWorker(m, 'gpu-3', '15s');
      workers.push(w3);
      const slow = await eventually('a job running on gpu-3', async () => (await jobs(m)).find((j) => j.Worker === 'gpu-3' && j.State === 'running'), 60_000);
      const pause = await runCli(MANAGER_BIN, ['util', 'worker', 'pause', 'gpu-3', '0', '--home', home]);
      assert.equal(pause.code, 0, pause.stderr);
      const takenOver = await eventually('the slow job proven by the manager', async () => (await jobs(m)).find((j) => j.ID === slow.ID && j.FallbackAt !== null), 30_000);
      assert.match(takenOver.Error ?? '', /^the deadline closes soon and the job is still running on worker "gpu-3"$/);
      // The pause takes effect once the step in flight ends: the thread then holds the proven job, paused.
      const info = async (): Promise<{ index: number; job_id: string | null; job_state: string; thread_state: { state: string } }[]> => {
        const r = await runCli(MANAGER_BIN, ['util', 'worker', 'info', 'gpu-3', '--home', home, '--json']);
        assert.equal(r.code, 0, r.stderr);
        return JSON.parse(r.stdout) as { index: number; job_id: string | null; job_state: string; thread_state: { state: string } }[];
      };
      const paused = await eventually('gpu-3 thread 0 paused', async () => (await info()).find((t) => t.index === 0 && t.thread_state.state === 'Paused'), 60_000);
      assert.equal(paused.job_id, slow.ID);
      const dropped = await runCli(MANAGER_BIN, ['util', 'worker', 'resume', 'gpu-3', '0', 'Aborted', '--home', home]);
      assert.equal(dropped.code, 0, dropped.stderr);
      await eventually('the thread dropped the job', async () => ((await info()).find((t) => t.index === 0 && t.thread_state.state !== 'Paused' && t.job_id !== slow.ID) ? true : undefined), 30_000);
      assert.match(w3.daemon.stdout(), /the manager was not told of the aborted job/);
      assert.notEqual((await jobs(m)).find((j) => j.ID === slow.ID)?.FallbackAt, null, 'the job stays proven by the manager');
      await w3.daemon.kill();

      // Every proof, the worker's and the manager's, was taken by the chain; no deadline got two; none was missed.
      const { PeriodStart } = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
      const messages = await eventually('every proof message executed', async () => {
        const all = devnetPostsByDeadline(net.home, PERIOD, PeriodStart % PERIOD);
        return all.every((msg) => msg.exitCode !== null) ? all : undefined;
      }, 30_000);
      assert.ok(messages.length >= 3, `${messages.length} proofs`);
      assert.deepEqual(messages.filter((msg) => msg.exitCode !== 0), [], 'every proof message succeeded');
      const keys = messages.map((msg) => msg.key);
      assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'no deadline got two proof messages');
      assert.deepEqual(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)), [], 'no sector became faulty');
    } finally {
      for (const w of workers) await w.daemon.kill();
      await m.daemon.kill();
      await net.daemon.kill();
    }
  });
});
