import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fromRunsJson } from '../../src/chain/bitfield.js';
import { LotusClient } from '../../src/chain/client.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import type { Sidecar } from '../../src/core/processor/sidecar.js';
import type { WdPoStJobView } from '../../src/core/wire/wdpost.js';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { devnetPostMessages, devnetProvenOpenings, provingDevnetToml, TEST_MINER, type DevnetPostMessage } from '../helpers/devnet.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { realProofs, SIDECAR_PROCESSORS } from '../helpers/proofs.js';
import { oneSectorPerThread, startTestWorker, writeWorkerConfig } from '../helpers/worker.js';

/**
 * Real Window PoSt: one 2KiB CC sector sealed by the sidecar through the cluster, then proven every proving period
 * by the manager's poster with the sidecar's `window_post` (`[proving] proofs = "sidecar"`), each proof verified
 * by the devnet with the sidecar's `verify_window_post` (`proof_verifier = "sidecar"`). A proof tampered with so
 * it still decodes fails on chain, and is sent again while the deadline is open; the sector then turns faulty, and
 * recovers with the next real proof. Needs the
 * sidecar built and its 2KiB parameters generated (`.ci/run` does both); without them the suite is skipped, unless
 * SEALFLEET_REQUIRE_PROOFS=1 (CI) makes that a failure.
 */

const { sidecar, unavailable } = await realProofs();

/** Four deadlines of 60 epochs of 200 ms: a proving period every 48 s, 12 s to compute and land each real proof. */
const WINDOW = 60;
const PERIOD = 4 * WINDOW;
const PERIOD_MS = PERIOD * 200;
const DEVNET_TOML = provingDevnetToml(WINDOW, 'block_time = "200ms"\nproof_verifier = "sidecar"\n');
const TAMPERING = fileURLToPath(new URL('../fixtures/tamperingWindowPoSt.ts', import.meta.url));

interface Submission {
  PeriodStart: number;
  Deadline: number;
  State: string;
  Attempts: number;
  Partitions: number[];
  Recovering: number[];
  Message: string | null;
  ExitCode: number | null;
}
interface ProofChecked {
  kind: string;
  verifier: string;
  valid: boolean;
}

const shellQuote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

describe('real Window PoSt through the manager\'s poster, verified by the devnet', { skip: unavailable }, () => {
  const proofs = sidecar as Sidecar;
  let m: TestManager;
  let chain: LotusClient;
  let devnetHome: string;
  let marker: string;
  let home: string;
  let managerToml: string;
  let sector: SectorSummary;
  let deadline: number;

  const cli = async (args: string[]): Promise<unknown> => {
    const r = await runCli(MANAGER_BIN, ['util', 'sealer', ...args, '--home', m.home, '--json']);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as unknown;
  };
  const submissions = async (): Promise<Submission[]> => (await cli(['proving', 'submissions', '--miner', TEST_MINER.address])) as Submission[];
  const history = async (): Promise<string[]> => ((await cli(['sectors', 'log', sector.Sector])) as SectorEvent[]).map((e) => e.Event ?? '');
  /** The devnet's verdicts on Window PoSts, from its log lines in the manager's output (it runs in the manager). */
  const postVerdicts = (): ProofChecked[] =>
    m.daemon
      .stdout()
      .split('\n')
      .filter((l) => l.includes('"proof checked"'))
      .map((l) => JSON.parse(l) as ProofChecked)
      .filter((v) => v.kind === 'window_post');
  const posts = (): DevnetPostMessage[] => devnetPostMessages(devnetHome).filter((p) => p.deadline === deadline);
  const faults = async (): Promise<number[]> => fromRunsJson(await chain.stateMinerFaults(TEST_MINER.address));

  before(async () => {
    home = tempDir('realpost');
    devnetHome = join(home, 'devnet');
    mkdirSync(devnetHome, { recursive: true });
    writeFileSync(join(devnetHome, 'devnet.toml'), DEVNET_TOML);
    // The poster's proofs_bin: the real sidecar behind a relay that corrupts its proofs while the marker exists.
    marker = join(home, 'tamper');
    const relay = join(home, 'tampering-proofs');
    const node = [process.execPath, '--import', import.meta.resolve('tsx'), TAMPERING, proofs.bin, marker].map(shellQuote).join(' ');
    writeFileSync(relay, `#!/bin/sh\nexec ${node} "$@"\n`, { mode: 0o755 });
    managerToml =
      defaultDevnetConfig(join(home, 'persist'))
        .replace('poll_interval = "1s"', 'poll_interval = "200ms"')
        .replace('init_number = 0', 'init_number = 0\nmax_number = 1') + `\n[proving]\nproofs = "sidecar"\nproofs_bin = ${JSON.stringify(relay)}\n`;
    m = await startTestManager(home, { managerToml });
    chain = new LotusClient({ url: readFileSync(join(devnetHome, 'api'), 'utf8').trim() });
  });

  after(async () => {
    await m?.daemon.kill();
  });

  it('seals one real CC sector', async () => {
    const w = await startTestWorker(await writeWorkerConfig(tempDir('realpost-worker'), m, { threads: [{ plan: 'sealer' }], processors: SIDECAR_PROCESSORS }));
    try {
      await oneSectorPerThread(w, 1);
      [sector] = await eventually('the sector finalized', async () => {
        const rows = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
        return rows.length === 1 ? (rows as [SectorSummary]) : undefined;
      }, 600_000);
    } finally {
      await w.daemon.kill();
    }
    assert.ok(await chain.stateSectorGetInfo(TEST_MINER.address, sector.Number), 'the sector is active on chain');
    deadline = (await chain.stateSectorPartition(TEST_MINER.address, sector.Number)).Deadline;
  });

  it('proves its deadline with a real proof, verified by the devnet through the sidecar, period after period', async () => {
    assert.ok(sector, 'needs the sector of the previous test');
    const landed = await eventually('two proofs of the deadline landed', async () => {
      const ok = posts().filter((p) => p.exitCode === ExitCode.Ok);
      return ok.length >= 2 ? ok : undefined;
    }, 4 * PERIOD_MS + 60_000);
    assert.deepEqual(posts().filter((p) => p.exitCode !== null && p.exitCode !== ExitCode.Ok), [], 'no proof message failed');

    // The manager's record of each, and the devnet's: the partition is recorded proven in that deadline's opening.
    const rows = (await submissions()).filter((s) => s.Deadline === deadline && s.State === 'landed');
    for (const p of landed) {
      const row = rows.find((s) => s.Message === p.cid);
      assert.ok(row, `the manager records ${p.cid} as landed: ${JSON.stringify(rows)}`);
      assert.equal(row.ExitCode, ExitCode.Ok);
      assert.deepEqual(row.Partitions, p.partitions);
      assert.ok(devnetProvenOpenings(devnetHome).has(row.PeriodStart + deadline * WINDOW), `deadline ${deadline} of period ${row.PeriodStart} recorded proven`);
    }

    // The devnet judged them with the sidecar, and a proof it accepts is a real one: it refuses anything else.
    const verdicts = postVerdicts();
    assert.ok(verdicts.length >= 2, `the devnet checked the proofs: ${JSON.stringify(verdicts)}`);
    for (const v of verdicts) {
      assert.match(v.verifier, /^sidecar \(/);
      assert.equal(v.valid, true);
    }

    assert.deepEqual(await faults(), [], 'no faulty sector');
    assert.ok(await chain.stateSectorGetInfo(TEST_MINER.address, sector.Number), 'the sector is still active');
  });

  it('a tampered proof fails on chain with ErrIllegalArgument (16), is proven and sent again while the deadline is open, and the operator sees it', async () => {
    assert.ok(sector, 'needs the sector of the first test');
    const landed = (await submissions()).find((s) => s.Deadline === deadline && s.State === 'landed');
    assert.ok(landed, 'a landed proof of the deadline from the previous test');
    const before = new Set(posts().map((p) => p.cid));
    writeFileSync(marker, '');
    const first = await eventually('the next proof of the deadline executed', async () => posts().find((p) => !before.has(p.cid) && p.exitCode !== null), 2 * PERIOD_MS + 60_000);
    assert.equal(first.exitCode, ExitCode.ErrIllegalArgument);
    const receipt = await chain.stateSearchMsg({ '/': first.cid });
    assert.equal(receipt?.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    const verdict = postVerdicts().find((v) => !v.valid);
    assert.deepEqual(verdict && { verifier: verdict.verifier.startsWith('sidecar ('), valid: verdict.valid }, { verifier: true, valid: false }, 'the sidecar refused it');

    // Every proof is tampered with while the marker exists: the poster proves and sends the deadline again,
    // at most three messages, until the deadline closes unproven and the sector turns faulty.
    await eventually('the sector faulty on chain', async () => ((await faults()).includes(sector.Number) ? true : undefined), PERIOD_MS + 30_000);
    rmSync(marker);
    const opened = landed.PeriodStart + deadline * WINDOW;
    const open = opened + PERIOD * Math.floor((first.chainCommitEpoch - opened) / PERIOD);
    const sent = posts().filter((p) => !before.has(p.cid) && p.chainCommitEpoch >= open && p.chainCommitEpoch < open + WINDOW);
    assert.deepEqual(sent.map((p) => p.exitCode), sent.map(() => ExitCode.ErrIllegalArgument), 'every proof message of the deadline failed with 16');
    assert.ok(sent.length >= 1 && sent.length <= 3, `${sent.length} proof messages for one deadline`);
    // Half a window is ample time for another 2KiB proof: one that failed that early is sent again.
    if ((receipt?.Height ?? open + WINDOW) < open + WINDOW / 2) assert.ok(sent.length >= 2, 'the failed proof was sent again');
    const last = sent.at(-1) as DevnetPostMessage;
    const row = await eventually('the manager records the failure', async () => (await submissions()).find((s) => s.Message === last.cid && s.State === 'failed'), 30_000);
    assert.equal(row.ExitCode, ExitCode.ErrIllegalArgument);
    assert.equal(row.Attempts, sent.length);
    assert.match(m.daemon.stdout(), new RegExp(`"exitCode":${ExitCode.ErrIllegalArgument}.*"msg":"window post failed on chain"`));
    if (sent.length > 1) assert.match(m.daemon.stdout(), /"msg":"the proof message failed on chain: proving the deadline again"/);
    const table = await runCli(MANAGER_BIN, ['util', 'sealer', 'proving', 'submissions', '--miner', TEST_MINER.address, '--home', m.home]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`failed\\W+${sent.length}\\W+${ExitCode.ErrIllegalArgument}\\b`));
  });

  it('the missed deadline makes the sector faulty; it is declared recovered and proven again for real', async () => {
    assert.ok(sector, 'needs the sector of the first test');
    await eventually('the sector faulty on chain', async () => ((await faults()).includes(sector.Number) ? true : undefined), PERIOD_MS + 30_000);
    const recovered = await eventually('the sector recovered', async () => {
      const events = await history();
      return events.includes('RecoveryDeclared') && events.includes('Recovered') ? events : undefined;
    }, 2 * PERIOD_MS + 60_000);
    assert.ok(recovered.indexOf('RecoveryDeclared') < recovered.lastIndexOf('Recovered'));
    assert.deepEqual(await faults(), [], 'no faulty sector');
    const proof = (await submissions()).find((s) => s.Deadline === deadline && s.State === 'landed' && s.Recovering.includes(sector.Number));
    assert.ok(proof, 'a landed proof covered the recovering sector');
    assert.equal(postVerdicts().at(-1)?.valid, true, 'the sidecar verified the recovery proof');
  });
  it("a worker's wdpost thread proves the deadline with the sidecar, and the devnet verifies its proof", async () => {
    assert.ok(sector, 'needs the sector of the first test');
    // The manager comes back with [proving.worker_prover]; its own prover (the relay, now honest) is the fallback,
    // later than the deadline's window, so that a proof in time is the worker's.
    await m.daemon.kill();
    m = await startTestManager(home, { managerToml: `${managerToml}\n[proving.worker_prover]\nenable = true\nfallback_after = "1min"\n` });
    // The devnet came back with the manager, on a new port.
    chain = new LotusClient({ url: readFileSync(join(devnetHome, 'api'), 'utf8').trim() });
    const w = await startTestWorker(await writeWorkerConfig(tempDir('realpost-gpu'), m, { name: 'gpu-1', threads: [{ plan: 'wdpost' }], processors: SIDECAR_PROCESSORS }));
    try {
      const job = await eventually('a job proven by the worker', async () => (await m.call<WdPoStJobView[]>('SealFleet.WdPoStJobs')).find((j) => j.Worker === 'gpu-1' && j.State === 'finished' && j.Proven), 2 * PERIOD_MS + 60_000);
      assert.equal(job.FallbackAt, null);
      // The poster submitted the worker's proof; the devnet verified it with the sidecar, and the sector is proven.
      await eventually('the worker\'s proof verified', async () => (postVerdicts().some((v) => v.verifier.startsWith('sidecar (') && v.valid) ? true : undefined), 30_000);
      assert.deepEqual(postVerdicts().filter((v) => !v.valid), [], 'the devnet refused no proof since the restart');
      await eventually('no faulty sector', async () => ((await faults()).length === 0 ? true : undefined), 2 * PERIOD_MS + 30_000);
      assert.doesNotMatch(m.daemon.stdout(), /"msg":"proving the deadline on the manager"/);
    } finally {
      await w.daemon.kill();
    }
  });
});
