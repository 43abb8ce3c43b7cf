import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/core/log.js';
import { SidecarClient, type Sidecar } from '../../src/core/processor/sidecar.js';
import { sealProofForSize, WINDOW_POST_PROOFS } from '../../src/core/proofTypes.js';
import { proverId, type Bytes32, type PoStReplica } from '../../src/core/wire/processor.js';
import { tempDir } from '../helpers/processes.js';
import { realProofs } from '../helpers/proofs.js';

/**
 * Real WindowPoSt through the sealfleet-proofs sidecar: 2KiB sectors sealed (PC1, PC2) by the sidecar, proven with
 * `window_post` and checked with `verify_window_post`, as the devnet checks a SubmitWindowedPoSt. Needs the
 * sidecar built and its 2KiB parameters generated (`.ci/run` does both); without them the suite is skipped, unless
 * SEALFLEET_REQUIRE_PROOFS=1 (CI) makes that a failure.
 */

const { sidecar, unavailable } = await realProofs();

const MINER = 1000;
const SEAL_PROOF = sealProofForSize(2048);
const POST_PROOF = WINDOW_POST_PROOFS.find((p) => p.id === SEAL_PROOF.windowPoStProof)?.name as string;
const randomness = (): Bytes32 => Array.from(randomBytes(32));

describe('real WindowPoSt through the sealfleet-proofs sidecar', { skip: unavailable }, () => {
  let client: SidecarClient;
  const sectors: PoStReplica[] = [];
  const pub = (r: PoStReplica) => ({ sector_id: r.sector_id, comm_r: r.comm_r });
  const prove = (replicas: PoStReplica[], seed: Bytes32) => client.run('window_post', { miner_id: MINER, proof_type: POST_PROOF, replicas, seed });
  const verify = (replicas: { sector_id: number; comm_r: Bytes32 }[], seed: Bytes32, proofs: string[]) =>
    client.run('verify_window_post', { miner_id: MINER, proof_type: POST_PROOF, replicas, seed, proofs });

  /** A CC sector sealed by the sidecar up to its replica and cache: all a WindowPoSt reads. */
  async function seal(number: number): Promise<PoStReplica> {
    const dir = tempDir(`wdpost-${number}`);
    const staged = join(dir, 'unsealed');
    const cache = join(dir, 'cache');
    const sealed = join(dir, 'sealed');
    const infos = await client.run('add_pieces', { seal_proof_type: SEAL_PROOF.name, pieces: [], staged_filepath: staged });
    const pc1out = await client.run('pc1', {
      registered_proof: SEAL_PROOF.name,
      cache_path: cache,
      in_path: staged,
      out_path: sealed,
      prover_id: proverId(MINER),
      sector_id: number,
      ticket: randomness(),
      piece_infos: infos,
    });
    const { comm_r } = await client.run('pc2', { pc1out, cache_dir: cache, sealed_file: sealed });
    return { sector_id: number, comm_r, cache_dir: cache, sealed_file: sealed };
  }

  before(async () => {
    client = new SidecarClient(sidecar as Sidecar, createLogger('test'));
    sectors.push(await seal(1), await seal(2), await seal(3));
  });

  after(async () => {
    await client?.close();
  });

  it('proves a partition of sealed sectors and the proof verifies, for those sectors and that randomness only', async () => {
    const [s1, s2] = sectors as [PoStReplica, PoStReplica];
    const seed = randomness();
    const out = await prove([s1, s2], seed);
    assert.deepEqual(out.faults, []);
    assert.equal(out.proofs.length, 1);
    assert.equal(Buffer.from(out.proofs[0] as string, 'base64').length, 192, 'one Groth16 proof: one partition');
    assert.equal(await verify([pub(s1), pub(s2)], seed, out.proofs), true);

    assert.equal(await verify([pub(s1), pub(s2)], randomness(), out.proofs), false, 'other randomness');
    assert.equal(await verify([pub(s1), pub(sectors[2] as PoStReplica)], seed, out.proofs), false, 'other sectors');
    const other = await prove([s1, s2], randomness());
    assert.equal(await verify([pub(s1), pub(s2)], seed, other.proofs), false, 'a valid proof of another challenge');
  });

  it('refuses a tampered proof', async () => {
    const [s1, s2] = sectors as [PoStReplica, PoStReplica];
    const seed = randomness();
    const { proofs } = await prove([s1, s2], seed);
    const bytes = Buffer.from(proofs[0] as string, 'base64');
    for (const at of [0, 100, 191]) {
      const tampered = Buffer.from(bytes);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      // Bytes that are no longer curve points are refused by the library before verifying: an error, not a yes.
      const verdict = await verify([pub(s1), pub(s2)], seed, [tampered.toString('base64')]).catch((err: Error) => err);
      if (verdict instanceof Error) assert.match(verdict.message, /^verify_window_post of a 192-byte proof for sectors \[1, 2\]/);
      else assert.equal(verdict, false, `byte ${at} flipped`);
    }
    await assert.rejects(verify([pub(s1), pub(s2)], seed, [bytes.subarray(0, 96).toString('base64')]), /verify_window_post of a 96-byte proof for sectors \[1, 2\][\s\S]*expected exactly 192 bytes/);
    assert.equal(await verify([pub(s1), pub(s2)], seed, proofs), true, 'the untampered proof still verifies');
  });

  it('reports sectors it cannot prove as faults and proves the rest, as the actor verifies a partition with skipped sectors', async () => {
    const [s1, s2, s3] = sectors as [PoStReplica, PoStReplica, PoStReplica];
    const seed = randomness();
    // s2's sealed file is gone; s3 is given s1's CommR, so its files do not match the commitment.
    renameSync(s2.sealed_file, `${s2.sealed_file}.away`);
    try {
      const out = await prove([s1, s2, { ...s3, comm_r: s1.comm_r }], seed);
      assert.deepEqual(out.faults, [2, 3]);
      assert.equal(out.proofs.length, 1);
      // The actor substitutes skipped sectors with the first good one of the partition: one sector, listed thrice.
      assert.equal(await verify([pub(s1), pub(s1), pub(s1)], seed, out.proofs), true);
      assert.equal(await verify([pub(s1)], seed, out.proofs), true);
      assert.equal(await verify([pub(s1), pub(s3)], seed, out.proofs), false);

      const none = await prove([s2], seed);
      assert.deepEqual(none, { proofs: [], faults: [2] }, 'nothing left to prove');
    } finally {
      renameSync(`${s2.sealed_file}.away`, s2.sealed_file);
    }
    const back = await prove([s1, s2], seed);
    assert.deepEqual(back.faults, [], 'the file is back: the sector is provable again');
    assert.equal(await verify([pub(s1), pub(s2)], seed, back.proofs), true);
  });

  it('answers bad requests with errors that name what is wrong, and keeps serving', async () => {
    const [s1] = sectors as [PoStReplica];
    await assert.rejects(client.run('window_post', { miner_id: MINER, proof_type: 'StackedDrgWinning2KiBV1', replicas: [s1], seed: randomness() }), /StackedDrgWinning2KiBV1 is not a WindowPoSt proof type/);
    await assert.rejects(prove([], randomness()), /replicas is empty/);
    await assert.rejects(prove([s1, { ...s1, comm_r: randomness() }], randomness()), /sector 1 is listed twice with different comm_r/);
    await assert.rejects(verify([pub(s1)], randomness(), []), /exactly one/);
    await assert.rejects(verify([pub(s1)], randomness(), ['not base64!']), /proofs\[0\] is not base64/);
    const seed = randomness();
    assert.equal(await verify([pub(s1)], seed, (await prove([s1], seed)).proofs), true);
  });
});
