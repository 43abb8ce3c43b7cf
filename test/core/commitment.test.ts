import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  cidToCommitment,
  commitmentToCid,
  hashNodes,
  unsealedSectorCommitment,
  zeroCommitment,
} from '../../src/core/commitment.js';
import { isMockProof, mockSealProof, verifyMockSealProof } from '../../src/core/mockProof.js';

/**
 * CommD of an all-zero (CC) sector per size, as published in go-commp-utils `zerocomm` and quoted by every
 * Filecoin implementation as the unsealed CID of CC sectors.
 */
const ZERO_COMMD = {
  2048: 'baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy',
  [8 * 1024 ** 2]: 'baga6ea4seaqgl4u6lwmnerwdrm4iz7ag3mpwwaqtapc2fciabpooqmvjypweeha',
  [512 * 1024 ** 2]: 'baga6ea4seaqdsvqopmj2soyhujb72jza76t4wpq5fzifvm3ctz47iyytkewnubq',
  [32 * 1024 ** 3]: 'baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq',
  [64 * 1024 ** 3]: 'baga6ea4seaqomqafu276g53zko4k23xzh4h4uecjwicbmvhsuqi7o4bhthhm4aq',
};

describe('commitments', () => {
  for (const [size, cid] of Object.entries(ZERO_COMMD)) {
    it(`zero CommD of ${size} bytes matches the published CID`, () => {
      assert.equal(commitmentToCid('unsealed', zeroCommitment(Number(size))).toString(), cid);
    });
  }

  it('hashes nodes with sha256 and the top two bits cleared', () => {
    const l = new Uint8Array(32).fill(1);
    const r = new Uint8Array(32).fill(2);
    const expect = createHash('sha256').update(l).update(r).digest();
    expect[31] = (expect[31] as number) & 0x3f;
    assert.deepEqual(Buffer.from(hashNodes(l, r)), expect);
  });

  it('round-trips commitment CIDs and refuses the wrong kind', () => {
    const comm = new Uint8Array(32).fill(7);
    const sealed = commitmentToCid('sealed', comm);
    assert.ok(sealed.toString().startsWith('bagboea4b5'));
    assert.deepEqual(cidToCommitment('sealed', sealed.toString()), comm);
    assert.throws(() => cidToCommitment('unsealed', sealed), /is not a unsealed commitment CID/);
    assert.throws(() => commitmentToCid('sealed', new Uint8Array(31)), /32 bytes, got 31/);
  });

  it('computes a sector CommD from pieces with zero padding', () => {
    const size = 2048;
    assert.deepEqual(unsealedSectorCommitment(size, []), zeroCommitment(size));
    // One piece filling the sector is the sector.
    const full = { size: 2048, commitment: new Uint8Array(32).fill(9) };
    assert.deepEqual(unsealedSectorCommitment(size, [full]), full.commitment);
    // A 512-byte piece then a 1024-byte piece: the second must start at 1024, so 512 zero bytes sit between.
    const a = { size: 512, commitment: new Uint8Array(32).fill(1) };
    const b = { size: 1024, commitment: new Uint8Array(32).fill(2) };
    const expected = hashNodes(hashNodes(a.commitment, zeroCommitment(512)), b.commitment);
    assert.deepEqual(unsealedSectorCommitment(size, [a, b]), expected);
    // Zero pieces give the zero commitment, however they are split.
    const z = { size: 1024, commitment: zeroCommitment(1024) };
    assert.deepEqual(unsealedSectorCommitment(size, [z]), zeroCommitment(size));
    assert.throws(() => unsealedSectorCommitment(size, [full, a]), /more than the 2048-byte sector/);
    assert.throws(() => unsealedSectorCommitment(size, [{ size: 300, commitment: a.commitment }]), /not a padded piece size/);
  });
});

describe('mock proofs', () => {
  const inputs = {
    miner: 1000,
    number: 3,
    sealProof: 5,
    commR: new Uint8Array(32).fill(1),
    commD: zeroCommitment(2048),
    ticket: new Uint8Array(32).fill(3),
    seed: new Uint8Array(32).fill(4),
  };

  it('are marked, sized like a Groth16 proof and bound to every public input', () => {
    const proof = mockSealProof(inputs);
    assert.equal(proof.length, 192);
    assert.ok(isMockProof(proof));
    assert.ok(verifyMockSealProof(proof, inputs));
    for (const key of ['commR', 'ticket', 'seed'] as const) {
      assert.equal(verifyMockSealProof(proof, { ...inputs, [key]: new Uint8Array(32).fill(0xee) }), false, key);
    }
    assert.equal(verifyMockSealProof(proof, { ...inputs, number: 4 }), false);
    const tampered = Uint8Array.from(proof);
    tampered[20] = (tampered[20] as number) ^ 1;
    assert.equal(verifyMockSealProof(tampered, inputs), false);
    assert.equal(mockSealProof({ ...inputs, sealProof: 8 }).length, 1920);
  });
});
