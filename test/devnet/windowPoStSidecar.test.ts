import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { minerEntropy } from '../../src/chain/address.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import { MinerMethod } from '../../src/chain/minerParams.js';
import { DomainSeparationTag } from '../../src/chain/randomness.js';
import type { VerifyWindowPoStTask } from '../../src/core/wire/processor.js';
import { PROVING_DEVNET_TOML, sealCcSectors, sendToMiner, startTestDevnet, TEST_MINER, testCommR, windowPoStParams } from '../helpers/devnet.js';
import { tempDir } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/fakeProofsSidecar.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

describe('devnet with proof_verifier = "sidecar"', () => {
  it('sends each Window PoSt to the verify_window_post stage with the challenged replicas, and takes its verdict', async () => {
    const home = tempDir('devnet-wpost-sidecar');
    const record = join(home, 'verify_window_post.jsonl');
    const bin = join(home, 'sealfleet-proofs');
    writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" --import "${TSX}" "${FIXTURE}" "${record}" "$@"\n`);
    chmodSync(bin, 0o755);
    const toml = PROVING_DEVNET_TOML.replace('[chain]\n', `[chain]\nproof_verifier = "sidecar"\nproofs_bin = "${bin}"\n`);
    const net = await startTestDevnet(home, { toml });
    try {
      await net.mine(2);
      await sealCcSectors(net, [1, 2, 3]);
      const where = await net.lotus.stateSectorPartition(TEST_MINER.address, 1);
      let dl = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
      while (!(dl.Index === where.Deadline && dl.CurrentEpoch === dl.Open)) {
        await net.mine();
        dl = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
      }
      const partitions = [{ index: where.Partition, skipped: [] }];
      const tampered = await sendToMiner(net, MinerMethod.SubmitWindowedPoSt, await windowPoStParams(net, dl, partitions, { tamper: true }));
      assert.equal(tampered.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
      const good = await sendToMiner(net, MinerMethod.SubmitWindowedPoSt, await windowPoStParams(net, dl, partitions));
      assert.equal(good.Receipt.ExitCode, ExitCode.Ok);

      const tasks = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as VerifyWindowPoStTask);
      assert.equal(tasks.length, 2, 'one verification per proof');
      const randomness = await net.lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, dl.Challenge, minerEntropy(TEST_MINER.id));
      // Partial partitions fill first: sectors 1 and 2 share one.
      const members = [1, 2];
      assert.deepEqual({ ...tasks[1], proofs: undefined }, {
        miner_id: TEST_MINER.id,
        proof_type: 'StackedDrgWindow2KiBV1_2',
        replicas: members.map((n) => ({ sector_id: n, comm_r: Array.from(testCommR(n)) })),
        seed: Array.from(randomness),
        proofs: undefined,
      });
      assert.equal(tasks[1]?.proofs.length, 1);
      assert.equal(Buffer.from(tasks[1]?.proofs[0] ?? '', 'base64').length, 192);
      assert.notDeepEqual(tasks[0]?.proofs, tasks[1]?.proofs);
    } finally {
      await net.daemon.kill();
    }
  });
});
