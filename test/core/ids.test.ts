import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSectorId, parseSectorId } from '../../src/core/sectorId.js';
import {
  acceptedForPreCommit,
  parseSectorSize,
  sealProofByName,
  sealProofForSize,
  sealProofInfo,
  updateProofForSize,
} from '../../src/core/proofTypes.js';

describe('sector ids', () => {
  it('print and parse as s-t0<miner>-<number>', () => {
    assert.equal(formatSectorId({ miner: 10000, number: 2 }), 's-t010000-2');
    assert.deepEqual(parseSectorId('s-t010000-2'), { miner: 10000, number: 2 });
    assert.deepEqual(parseSectorId('s-f01000-0'), { miner: 1000, number: 0 });
  });

  it('refuse anything else with the expected form in the message', () => {
    for (const bad of ['t01000-2', 's-t01000', 's-t1abc-2', 's-t01000--2', '']) {
      assert.throws(() => parseSectorId(bad), /expected s-t0<miner>-<number>/);
    }
  });
});

describe('proof types', () => {
  it('use the chain numbers', () => {
    assert.equal(sealProofForSize(2048).id, 5);
    assert.equal(sealProofForSize(32 * 1024 ** 3).id, 8);
    assert.equal(sealProofForSize(64 * 1024 ** 3).id, 9);
    assert.equal(sealProofForSize(2048, true).id, 10);
    assert.equal(sealProofInfo(8).name, 'StackedDrg32GiBV1_1');
    assert.equal(sealProofInfo(3).name, 'StackedDrg32GiBV1');
    assert.equal(sealProofInfo(18).name, 'StackedDrg32GiBV1_2_Feat_NiPoRep');
    assert.equal(sealProofByName('StackedDrg2KiBV1_1').id, 5);
    assert.equal(sealProofInfo(5).windowPoStProof, 10);
    assert.equal(sealProofInfo(8).partitions, 10);
    assert.equal(updateProofForSize(32 * 1024 ** 3), 3);
  });

  it('accept only V1_1 and synthetic proofs for new pre-commits', () => {
    assert.equal(acceptedForPreCommit(4), false);
    assert.equal(acceptedForPreCommit(5), true);
    assert.equal(acceptedForPreCommit(14), true);
    assert.equal(acceptedForPreCommit(15), false);
  });

  it('refuse unknown sizes and proofs', () => {
    assert.throws(() => parseSectorSize('4KiB'), /expected one of 2KiB, 8MiB, 512MiB, 32GiB, 64GiB/);
    assert.throws(() => sealProofInfo(20), /unknown seal proof type 20/);
  });
});
