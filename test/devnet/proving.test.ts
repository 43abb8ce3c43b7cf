import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromRunsJson } from '../../src/chain/bitfield.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import {
  decodeTerminateSectorsReturn,
  encodeDeclareFaults,
  encodeDeclareFaultsRecovered,
  encodeExtendSectorExpiration2,
  encodeTerminateSectors,
  MinerMethod,
  type PartitionSectors,
  type PoStPartition,
} from '../../src/chain/minerParams.js';
import type { DeadlineInfo, MsgLookup } from '../../src/chain/types.js';
import { PROVING_DEVNET_TOML, sealCcSectors, sendToMiner, startTestDevnet, windowPoStParams, type TestDevnet } from '../helpers/devnet.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';

const MINER = 't01000';
const SECTORS = [1, 2, 3, 4, 5, 6];

describe('devnet Window PoSt schedule (real process, real HTTP)', () => {
  const home = tempDir('devnet-proving');
  let net: TestDevnet;
  /** Sector number → where the devnet placed it. */
  const placed = new Map<number, { deadline: number; partition: number }>();
  let dA = -1;
  let dB = -1;

  before(async () => {
    net = await startTestDevnet(home, { toml: PROVING_DEVNET_TOML });
  });
  after(() => net.daemon.kill());

  const send = (method: number, params: Uint8Array, value = 0n): Promise<MsgLookup> => sendToMiner(net, method, params, value);
  const windowPoSt = (dl: DeadlineInfo, partitions: PoStPartition[], opts: Parameters<typeof windowPoStParams>[3] = {}): Promise<Uint8Array> =>
    windowPoStParams(net, dl, partitions, opts);

  async function head(): Promise<number> {
    return (await net.lotus.chainHead()).Height;
  }

  /**
   * Mines one tipset at a time until `done` holds, proving each open deadline of ours not in `unproven` as
   * a poster would (every partition with something to prove), so only the deadlines a step is about go unproven.
   */
  async function advance(done: (dl: DeadlineInfo) => boolean, unproven: number[]): Promise<DeadlineInfo> {
    for (let i = 0; i < 400; i++) {
      const dl = await net.lotus.stateMinerProvingDeadline(MINER);
      if (done(dl)) return dl;
      if ((dl.Index === dA || dl.Index === dB) && !unproven.includes(dl.Index) && dl.CurrentEpoch + 1 < dl.Close) {
        const posted = fromRunsJson((await net.lotus.stateMinerDeadlines(MINER))[dl.Index]?.PostSubmissions ?? [0]);
        const parts = await net.lotus.stateMinerPartitions(MINER, dl.Index);
        const todo = parts.flatMap((p, index) =>
          !posted.includes(index) && fromRunsJson(p.ActiveSectors).length + fromRunsJson(p.RecoveringSectors).length > 0 ? [{ index, skipped: [] }] : [],
        );
        if (todo.length > 0) {
          const r = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, todo));
          assert.equal(r.Receipt.ExitCode, ExitCode.Ok, `background proof of deadline ${dl.Index}`);
          continue;
        }
      }
      await net.mine();
    }
    throw new Error('the awaited deadline never came');
  }

  /**
   * Mines (proving the other deadlines) until deadline `index` has just opened, so the whole challenge window
   * is ahead; called inside that window it waits for the next period.
   */
  const openFor = (index: number): Promise<DeadlineInfo> => advance((dl) => dl.Index === index && dl.CurrentEpoch === dl.Open, [index]);

  /** Mines until deadline `index` has closed (its cron ran), without proving it. */
  async function closeDeadline(index: number): Promise<void> {
    await openFor(index);
    await advance((dl) => dl.Index !== index, [index]);
  }

  /** Mines until declarations for `index` are before its fault cutoff: it is neither open nor next. */
  const declarable = (index: number): Promise<DeadlineInfo> => advance((dl) => dl.Index !== index && (dl.Index + 1) % 4 !== index, []);

  const faults = async (): Promise<number[]> => fromRunsJson(await net.lotus.stateMinerFaults(MINER));
  const recoveries = async (): Promise<number[]> => fromRunsJson(await net.lotus.stateMinerRecoveries(MINER));
  const decl = (n: number): PartitionSectors => ({ ...(placed.get(n) as { deadline: number; partition: number }), sectors: [n] });

  it('rejects an inconsistent schedule in devnet.toml, naming the keys', async () => {
    const bad = tempDir('devnet-proving-bad');
    writeFileSync(join(bad, 'devnet.toml'), PROVING_DEVNET_TOML.replace('wpost_proving_period = 40', 'wpost_proving_period = 41'));
    const r = await runCli(MANAGER_BIN, ['devnet', '--home', bad, '--listen', '127.0.0.1:0']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /chain\.wpost_proving_period: 41 must equal wpost_period_deadlines × wpost_challenge_window = 4 × 10 = 40/);
    writeFileSync(join(bad, 'devnet.toml'), PROVING_DEVNET_TOML.replace('[chain]\n', '[chain]\nwindow_post_partition_sectors = { "3KiB" = 2 }\n'));
    const r2 = await runCli(MANAGER_BIN, ['devnet', '--home', bad, '--listen', '127.0.0.1:0']);
    assert.notEqual(r2.code, 0);
    assert.match(r2.stderr, /chain\.window_post_partition_sectors\.3KiB: invalid sector size "3KiB"/);
  });

  it('serves the proving deadline as the actor computes it, advancing every challenge window', async () => {
    const first = await net.lotus.stateMinerProvingDeadline(MINER);
    assert.equal(first.WPoStPeriodDeadlines, 4);
    assert.equal(first.WPoStProvingPeriod, 40);
    assert.equal(first.Close - first.Open, 10);
    assert.equal(first.Challenge, first.Open - 3);
    assert.equal(first.FaultCutoff, first.Open - 5);
    assert.equal(first.Open, first.PeriodStart + first.Index * 10);
    assert.ok(first.Open <= first.CurrentEpoch && first.CurrentEpoch < first.Close);
    await net.mine(first.Close - first.CurrentEpoch);
    const next = await net.lotus.stateMinerProvingDeadline(MINER);
    assert.equal(next.Index, (first.Index + 1) % 4);
    assert.equal(next.Open, first.Close);
    assert.equal(next.PeriodStart, next.Index === 0 ? first.PeriodStart + 40 : first.PeriodStart);
    assert.equal((await net.lotus.stateMinerInfo(MINER)).WindowPoStPartitionSectors, 2);
  });

  it('places activated sectors in mutable deadlines, in partitions of window_post_partition_sectors', async () => {
    const proven = await sealCcSectors(net, SECTORS);
    const atActivation = await net.lotus.stateMinerProvingDeadline(MINER, proven.TipSet);

    for (const n of SECTORS) {
      const where = await net.lotus.stateSectorPartition(MINER, n);
      placed.set(n, { deadline: where.Deadline, partition: where.Partition });
    }
    const used = [...new Set([...placed.values()].map((p) => p.deadline))].sort();
    // Neither the deadline open at activation nor the next one takes new sectors.
    assert.equal(used.length, 2, `two mutable deadlines of four: ${JSON.stringify([...placed])}`);
    for (const d of used) assert.ok(d !== atActivation.Index && d !== (atActivation.Index + 1) % 4, `deadline ${d} was immutable`);
    // Partial partitions fill first: 1,2 | 3,4 in the two deadlines, then 5,6 in the first one's second partition.
    dA = (placed.get(1) as { deadline: number }).deadline;
    dB = (placed.get(3) as { deadline: number }).deadline;
    assert.deepEqual([placed.get(1), placed.get(2), placed.get(5), placed.get(6)], [
      { deadline: dA, partition: 0 },
      { deadline: dA, partition: 0 },
      { deadline: dA, partition: 1 },
      { deadline: dA, partition: 1 },
    ]);
    assert.deepEqual([placed.get(3), placed.get(4)], [{ deadline: dB, partition: 0 }, { deadline: dB, partition: 0 }]);
    const parts = await net.lotus.stateMinerPartitions(MINER, dA);
    assert.deepEqual(parts.map((p) => fromRunsJson(p.AllSectors)), [[1, 2], [5, 6]]);
    assert.deepEqual(parts[0], { AllSectors: [1, 2], FaultySectors: [0], RecoveringSectors: [0], LiveSectors: [1, 2], ActiveSectors: [1, 2] });
    assert.deepEqual(await faults(), []);
  });

  it('accepts a proof in the open deadline and refuses wrong, tampered and late ones with the actor exit codes', async () => {
    const dl = await openFor(dA);
    const both = [{ index: 0, skipped: [] }, { index: 1, skipped: [] }];
    const wrongDeadline = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, both, { deadline: (dA + 1) % 4 }));
    assert.equal(wrongDeadline.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    const noPartition = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, [{ index: 7, skipped: [] }]));
    assert.equal(noPartition.Receipt.ExitCode, ExitCode.ErrNotFound);
    const outside = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, [{ index: 0, skipped: [3] }]));
    assert.equal(outside.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'skipped sector outside the partition');
    const tampered = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, both, { tamper: true }));
    assert.equal(tampered.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    const staleCommit = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, both, { chainCommitEpoch: dl.Challenge - 1 }));
    assert.equal(staleCommit.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    assert.deepEqual((await net.lotus.stateMinerDeadlines(MINER))[dA]?.PostSubmissions, [0], 'nothing recorded by refused proofs');

    const good = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, both));
    assert.equal(good.Receipt.ExitCode, ExitCode.Ok);
    assert.ok(good.Height >= dl.Open && good.Height < dl.Close);
    const deadlines = await net.lotus.stateMinerDeadlines(MINER);
    assert.equal(deadlines.length, 4);
    assert.deepEqual(deadlines[dA]?.PostSubmissions, [0, 2]);

    await advance((d) => d.Index !== dA, [dA]);
    assert.deepEqual((await net.lotus.stateMinerDeadlines(MINER))[dA]?.PostSubmissions, [0], 'cleared when the deadline ends');
    const late = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, both, { chainCommitEpoch: (await head()) - 1 }));
    assert.equal(late.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'deadline no longer open');
    assert.deepEqual(await faults(), [], 'a proven deadline leaves no faults');
  });

  it('marks the sectors of a deadline that closes unproven faulty, and a declared recovery proven later clears them', async () => {
    await closeDeadline(dB);
    assert.deepEqual(await faults(), [3, 4]);
    const part = (await net.lotus.stateMinerPartitions(MINER, dB))[0];
    assert.deepEqual(part && fromRunsJson(part.FaultySectors), [3, 4]);
    assert.deepEqual(part && fromRunsJson(part.ActiveSectors), []);

    await declarable(dB);
    const outside = await send(MinerMethod.DeclareFaultsRecovered, encodeDeclareFaultsRecovered({ recoveries: [{ deadline: dB, partition: 0, sectors: [1] }] }));
    assert.equal(outside.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'sector not in the partition');
    const noPartition = await send(MinerMethod.DeclareFaultsRecovered, encodeDeclareFaultsRecovered({ recoveries: [{ deadline: dB, partition: 3, sectors: [3] }] }));
    assert.equal(noPartition.Receipt.ExitCode, ExitCode.ErrNotFound);
    await declarable(dB);
    const recovered = await send(MinerMethod.DeclareFaultsRecovered, encodeDeclareFaultsRecovered({ recoveries: [{ deadline: dB, partition: 0, sectors: [3, 4] }] }));
    assert.equal(recovered.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(await recoveries(), [3, 4]);
    assert.deepEqual(await faults(), [3, 4], 'still faulty until proven');

    const dl = await openFor(dB);
    const lateDecl = await send(MinerMethod.DeclareFaultsRecovered, encodeDeclareFaultsRecovered({ recoveries: [{ deadline: dB, partition: 0, sectors: [3] }] }));
    assert.equal(lateDecl.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'past the fault cutoff of the open deadline');
    const proof = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, [{ index: 0, skipped: [] }]));
    assert.equal(proof.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(await faults(), []);
    assert.deepEqual(await recoveries(), []);
  });

  it('declares faults, skips them in a proof and keeps them faulty', async () => {
    const bad = await send(MinerMethod.DeclareFaults, encodeDeclareFaults({ faults: [{ deadline: 9, partition: 0, sectors: [1] }] }));
    assert.equal(bad.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'deadline out of range');
    await declarable(dA);
    const declared = await send(MinerMethod.DeclareFaults, encodeDeclareFaults({ faults: [decl(1)] }));
    assert.equal(declared.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(await faults(), [1]);
    const dl = await openFor(dA);
    const proof = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, [{ index: 0, skipped: [2] }, { index: 1, skipped: [] }]));
    assert.equal(proof.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(await faults(), [1, 2], 'a skipped sector becomes faulty');
    await advance((d) => d.Index !== dA, [dA]);
    assert.deepEqual(await faults(), [1, 2]);
  });

  it('extends a sector expiration and refuses reductions, faulty and unknown sectors', async () => {
    const before6 = await net.lotus.stateSectorGetInfo(MINER, 6);
    assert.ok(before6);
    const extend = (n: number, to: number, where = placed.get(n)) =>
      encodeExtendSectorExpiration2({
        extensions: [{ ...(where as { deadline: number; partition: number }), sectors: [n], sectorsWithClaims: [], newExpiration: to }],
      });
    assert.equal((await send(MinerMethod.ExtendSectorExpiration2, extend(6, before6.Expiration - 1))).Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    assert.equal((await send(MinerMethod.ExtendSectorExpiration2, extend(1, before6.Expiration + 100))).Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'faulty');
    assert.equal((await send(MinerMethod.ExtendSectorExpiration2, extend(6, before6.Expiration + 100, { deadline: dA, partition: 5 }))).Receipt.ExitCode, ExitCode.ErrNotFound);
    assert.equal((await send(MinerMethod.ExtendSectorExpiration2, extend(6, (await head()) + 20_000))).Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'beyond max extension');
    const ok = await send(MinerMethod.ExtendSectorExpiration2, extend(6, before6.Expiration + 100));
    assert.equal(ok.Receipt.ExitCode, ExitCode.Ok);
    assert.equal((await net.lotus.stateSectorGetInfo(MINER, 6))?.Expiration, before6.Expiration + 100);
  });

  it('terminates live sectors of mutable deadlines only', async () => {
    const dl = await openFor(dA);
    const immutable = await send(MinerMethod.TerminateSectors, encodeTerminateSectors({ terminations: [decl(5)] }));
    assert.equal(immutable.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'the open deadline is immutable');
    assert.equal((await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(dl, [{ index: 1, skipped: [] }]))).Receipt.ExitCode, ExitCode.Ok);
    await declarable(dA);
    assert.ok((await head()) >= dl.Close);
    const done = await send(MinerMethod.TerminateSectors, encodeTerminateSectors({ terminations: [decl(5)] }));
    assert.equal(done.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(decodeTerminateSectorsReturn(Buffer.from(done.Receipt.Return as string, 'base64')), { done: true });
    assert.equal(await net.lotus.stateSectorGetInfo(MINER, 5), null);
    const part = (await net.lotus.stateMinerPartitions(MINER, dA))[1];
    assert.deepEqual(part && [fromRunsJson(part.AllSectors), fromRunsJson(part.LiveSectors)], [[5, 6], [6]]);
    const again = await send(MinerMethod.TerminateSectors, encodeTerminateSectors({ terminations: [decl(5)] }));
    assert.equal(again.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'can only terminate live sectors');
    // A partition with a terminated sector is still proven, the terminated one replaced in the challenge.
    const proof = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(await openFor(dA), [{ index: 1, skipped: [] }]));
    assert.equal(proof.Receipt.ExitCode, ExitCode.Ok);
  });

  it('answers state reads that agree, keeps them across a SIGKILL restart and goes on proving', async () => {
    const read = async () => ({
      deadlines: await net.lotus.stateMinerDeadlines(MINER),
      partitionsA: await net.lotus.stateMinerPartitions(MINER, dA),
      partitionsB: await net.lotus.stateMinerPartitions(MINER, dB),
      faults: await faults(),
      where: await net.lotus.stateSectorPartition(MINER, 6),
      deadline: await net.lotus.stateMinerProvingDeadline(MINER),
    });
    // The state reads agree: each sector's partition lists it, and the miner's faults are its partitions' faults.
    const allFaulty: number[] = [];
    for (let d = 0; d < 4; d++) {
      const parts = await net.lotus.stateMinerPartitions(MINER, d);
      parts.forEach((p, index) => {
        allFaulty.push(...fromRunsJson(p.FaultySectors));
        for (const n of fromRunsJson(p.LiveSectors)) assert.deepEqual(placed.get(n), { deadline: d, partition: index });
      });
    }
    assert.deepEqual(allFaulty.sort((a, b) => a - b), await faults());
    for (const n of [1, 2, 3, 4, 6]) {
      const where = await net.lotus.stateSectorPartition(MINER, n);
      assert.deepEqual({ deadline: where.Deadline, partition: where.Partition }, placed.get(n));
    }
    const beforeKill = await read();
    await net.daemon.kill('SIGKILL');
    net = await startTestDevnet(home);
    assert.deepEqual(await read(), beforeKill);
    const proof = await send(MinerMethod.SubmitWindowedPoSt, await windowPoSt(await openFor(dB), [{ index: 0, skipped: [] }]));
    assert.equal(proof.Receipt.ExitCode, ExitCode.Ok);
    await advance((d) => d.Index !== dB, [dB]);
    assert.deepEqual(await faults(), [1, 2], 'dB proven after the restart; dA faults kept');
  });
});
