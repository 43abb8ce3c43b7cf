import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isCommitmentCid } from '../../src/core/commitment.js';

import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';

import { decodeRlePlus, encodeRlePlus, fromRunsJson, toRunsJson } from '../../src/chain/bitfield.js';
import {
  decodeBatchReturn,
  decodeDeclareFaults,
  decodeDeclareFaultsRecovered,
  decodeExtendSectorExpiration2,
  decodePreCommitSectorBatch2,
  decodeProveCommitSectors3,
  decodeProveReplicaUpdates3,
  decodeSubmitWindowedPoSt,
  decodeTerminateSectors,
  decodeTerminateSectorsReturn,
  encodeBatchReturn,
  encodeDeclareFaults,
  encodeDeclareFaultsRecovered,
  encodeExtendSectorExpiration2,
  encodePreCommitSectorBatch2,
  encodeProveCommitSectors3,
  encodeProveReplicaUpdates3,
  encodeSubmitWindowedPoSt,
  encodeTerminateSectors,
  encodeTerminateSectorsReturn,
  MinerMethod,
  type DeclareFaultsParams,
  type DeclareFaultsRecoveredParams,
  type ExtendSectorExpiration2Params,
  type PreCommitSectorBatchParams2,
  type ProveCommitSectors3Params,
  type ProveReplicaUpdates3Params,
  type SubmitWindowedPoStParams,
  type TerminateSectorsParams,
} from '../../src/chain/minerParams.js';

interface Vector {
  name: string;
  method: keyof typeof MinerMethod;
  methodNum: number;
  input: unknown;
  derivation: string[];
  hex: string;
}

const file = JSON.parse(readFileSync(new URL('./vectors/miner-params.json', import.meta.url), 'utf8')) as {
  source: string;
  vectors: Vector[];
};

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

// Field names whose JSON form is a CID string or a hex string (or a list of hex strings).
const CID_FIELDS = new Set(['sealedCid', 'unsealedCid', 'cid', 'newSealedCid']);
const BYTES_FIELDS = new Set(['address', 'payload', 'aggregateProof', 'sectorProofs', 'proofBytes', 'chainCommitRand']);

function fromJson(value: unknown, key = ''): unknown {
  if (value === null) return null;
  if (CID_FIELDS.has(key)) return CID.parse(value as string);
  if (BYTES_FIELDS.has(key)) {
    return Array.isArray(value) ? value.map((v) => unhex(v as string)) : unhex(value as string);
  }
  if (Array.isArray(value)) return value.map((v) => fromJson(v, key));
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromJson(v, k)]));
  }
  return value;
}

function toJson(value: unknown): unknown {
  const cid = CID.asCID(value);
  if (cid) return cid.toString();
  if (value instanceof Uint8Array) return hex(value);
  if (Array.isArray(value)) return value.map(toJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJson(v)]));
  }
  return value;
}

const codecs = {
  PreCommitSectorBatch2: {
    encode: (v: unknown) => encodePreCommitSectorBatch2(v as PreCommitSectorBatchParams2),
    decode: decodePreCommitSectorBatch2,
  },
  ProveCommitSectors3: {
    encode: (v: unknown) => encodeProveCommitSectors3(v as ProveCommitSectors3Params),
    decode: decodeProveCommitSectors3,
  },
  ProveReplicaUpdates3: {
    encode: (v: unknown) => encodeProveReplicaUpdates3(v as ProveReplicaUpdates3Params),
    decode: decodeProveReplicaUpdates3,
  },
  SubmitWindowedPoSt: {
    encode: (v: unknown) => encodeSubmitWindowedPoSt(v as SubmitWindowedPoStParams),
    decode: decodeSubmitWindowedPoSt,
  },
  TerminateSectors: {
    encode: (v: unknown) => encodeTerminateSectors(v as TerminateSectorsParams),
    decode: decodeTerminateSectors,
  },
  DeclareFaults: {
    encode: (v: unknown) => encodeDeclareFaults(v as DeclareFaultsParams),
    decode: decodeDeclareFaults,
  },
  DeclareFaultsRecovered: {
    encode: (v: unknown) => encodeDeclareFaultsRecovered(v as DeclareFaultsRecoveredParams),
    decode: decodeDeclareFaultsRecovered,
  },
  ExtendSectorExpiration2: {
    encode: (v: unknown) => encodeExtendSectorExpiration2(v as ExtendSectorExpiration2Params),
    decode: decodeExtendSectorExpiration2,
  },
};

function vector(name: string): Vector {
  const v = file.vectors.find((x) => x.name === name);
  assert.ok(v, `no vector ${name}`);
  return v;
}

/** The vector's CBOR as the plain tree dag-cbor sees, for building malformed variants. */
function tree(name: string): unknown[] {
  return dagCbor.decode(unhex(vector(name).hex)) as unknown[];
}

/** Follows a path of array indexes into a tree and replaces (or, with `undefined`, deletes) the target. */
function mutate(root: unknown[], path: number[], replacement: unknown): Uint8Array {
  let node = root;
  for (const i of path.slice(0, -1)) node = node[i] as unknown[];
  const last = path[path.length - 1]!;
  if (replacement === undefined) node.splice(last, 1);
  else node[last] = replacement;
  return dagCbor.encode(root);
}

describe('miner params golden vectors', () => {
  it('covers every method', () => {
    assert.ok(file.source.includes('builtin-actors'));
    assert.deepEqual(new Set(file.vectors.map((v) => v.method)), new Set(Object.keys(MinerMethod)));
  });

  for (const v of file.vectors) {
    describe(v.name, () => {
      const codec = codecs[v.method];
      const input = fromJson(v.input);

      it('method number matches', () => assert.equal(v.methodNum, MinerMethod[v.method]));

      it('derivation annotations spell out the hex', () => {
        const spelled = v.derivation
          .map((line) => line.split(' — ')[0]!.trim().split(/\s+/))
          .flat()
          .map((tok) => {
            const [byte, times] = tok.split('*');
            assert.match(byte!, /^[0-9a-f]{2}$/, `bad token ${tok}`);
            return byte!.repeat(times === undefined ? 1 : Number(times));
          })
          .join('');
        assert.equal(spelled, v.hex);
      });

      it('encodes to the hand-derived hex', () => assert.equal(hex(codec.encode(input)), v.hex));

      it('decodes back to the input', () => {
        const decoded = codec.decode(unhex(v.hex));
        assert.deepEqual(decoded, input);
        assert.deepEqual(toJson(decoded), v.input);
      });

      it('has the same CBOR in its per-method hex file', () => {
        const path = new URL(`./vectors/${v.method}.${v.name}.hex`, import.meta.url);
        assert.equal(readFileSync(path, 'utf8').trim(), v.hex);
      });
    });
  }

  it('uses commitment CIDs the actor accepts', () => {
    const pre = decodePreCommitSectorBatch2(unhex(vector('precommit-deals').hex)).sectors[0]!;
    assert.ok(isCommitmentCid('sealed', pre.sealedCid));
    assert.ok(pre.unsealedCid && isCommitmentCid('unsealed', pre.unsealedCid));
    assert.ok(!isCommitmentCid('sealed', pre.unsealedCid));
    assert.ok(!isCommitmentCid('unsealed', pre.sealedCid));
  });
});

describe('decodePreCommitSectorBatch2 rejects', () => {
  const ok = 'precommit-cc';
  const bad = (data: Uint8Array, message: RegExp) => assert.throws(() => decodePreCommitSectorBatch2(data), message);

  it('a non-array top level', () => {
    bad(dagCbor.encode({ sectors: [] }), /^Error: PreCommitSectorBatchParams2: expected .* array of 1 fields, got a map$/);
    bad(dagCbor.encode(7), /an array of 1 fields, got number 7/);
  });
  it('wrong arity', () => {
    bad(dagCbor.encode([[], []]), /an array of 1 fields, got an array of 2/);
    bad(mutate(tree(ok), [0, 0, 6], undefined), /sectors\[0\]: expected SectorPreCommitInfo as an array of 7 fields, got an/);
  });
  it('a string where an integer belongs', () => {
    bad(mutate(tree(ok), [0, 0, 1], '1'), /sectors\[0\]\.sectorNumber: expected an integer, got string "1"/);
    bad(mutate(tree(ok), [0, 0, 4], ['5']), /sectors\[0\]\.dealIds\[0\]: expected an integer/);
  });
  it('a negative sector number or deal id', () => {
    bad(mutate(tree(ok), [0, 0, 1], -1), /sectors\[0\]\.sectorNumber: expected a non-negative integer, got -1/);
    bad(mutate(tree(ok), [0, 0, 4], [-3]), /dealIds\[0\]: expected a non-negative integer/);
  });
  it('integers beyond the JS safe range', () => {
    bad(mutate(tree(ok), [0, 0, 1], 2n ** 63n - 1n), /sectorNumber: integer 9223372036854775807 is outside the JS safe/);
  });
  it('a non-CID sealed or unsealed cid', () => {
    const cidBytes = CID.parse('bagboea4b5abcaaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaibaeaqcaib').bytes;
    bad(mutate(tree(ok), [0, 0, 2], cidBytes), /sectors\[0\]\.sealedCid: expected a CID \(CBOR tag 42\), got bytes\(40/);
    bad(mutate(tree(ok), [0, 0, 2], null), /sealedCid: expected a CID/);
    bad(mutate(tree(ok), [0, 0, 6], 'baga6ea4seaq'), /unsealedCid: expected a CID \(CBOR tag 42\), got string/);
  });
  it('trailing garbage and truncation', () => {
    const good = unhex(vector(ok).hex);
    bad(Uint8Array.from([...good, 0x00]), /PreCommitSectorBatchParams2: not valid DAG-CBOR/);
    bad(good.subarray(0, good.length - 1), /not valid DAG-CBOR/);
    bad(new Uint8Array(), /not valid DAG-CBOR/);
  });
  it('a float or undefined where dag-cbor would silently coerce', () => {
    // 81 81 87 05 01 … : replace the sector number 01 by float64 1.0
    const good = vector(ok).hex;
    bad(unhex(good.replace(/^8181870501/, '81818705fb3ff0000000000000')), /not canonical DAG-CBOR/);
    // last byte f6 (null unsealed cid) → f7 (undefined)
    bad(unhex(good.replace(/f6$/, 'f7')), /not canonical DAG-CBOR/);
  });
  it('non-bytes input', () => {
    const text = '8180' as unknown as Uint8Array;
    assert.throws(() => decodePreCommitSectorBatch2(text), /expected CBOR bytes, got string/);
  });
});

describe('decodeProveCommitSectors3 rejects', () => {
  const ok = 'provecommit-verified-notify';
  const bad = (data: Uint8Array, message: RegExp) => assert.throws(() => decodeProveCommitSectors3(data), message);

  it('a non-array top level and wrong arity', () => {
    bad(dagCbor.encode('params'), /expected ProveCommitSectors3Params as an array of 6 fields, got string "params"/);
    bad(mutate(tree(ok), [5], undefined), /as an array of 6 fields, got an array of 5/);
    bad(mutate(tree(ok), [0, 0, 1, 0], [null, 2048, null, []]), /pieces\[0\]\.cid: expected a CID/);
    bad(mutate(tree(ok), [0, 0, 1, 0, 2], [1001]), /verifiedAllocationKey: expected .* of 2 fields, got an array of 1/);
  });
  it('a string where an integer belongs', () => {
    bad(mutate(tree(ok), [0, 0, 0], '9'), /sectorActivations\[0\]\.sectorNumber: expected an integer, got string "9"/);
    bad(mutate(tree(ok), [3], 'SnarkPackV2'), /aggregateProofType: expected an integer, got string/);
  });
  it('a negative sector number, piece size or allocation id', () => {
    bad(mutate(tree(ok), [0, 0, 0], -9), /sectorActivations\[0\]\.sectorNumber: expected a non-negative integer/);
    bad(mutate(tree(ok), [0, 0, 1, 0, 1], -2048), /pieces\[0\]\.size: expected a non-negative integer/);
    bad(mutate(tree(ok), [0, 0, 1, 0, 2, 1], -1), /verifiedAllocationKey\.id: expected a non-negative integer/);
  });
  it('a non-CID piece cid', () => {
    bad(mutate(tree(ok), [0, 0, 1, 0, 0], new Uint8Array(39)), /pieces\[0\]\.cid: expected a CID .*, got bytes\(39\)/);
  });
  it('proofs that are not byte strings', () => {
    bad(mutate(tree(ok), [1, 0], [1, 2, 3]), /sectorProofs\[0\]: expected a byte string, got an array of 3/);
    bad(mutate(tree(ok), [2], null), /aggregateProof: expected a byte string, got null/);
  });
  it('booleans given as integers', () => {
    bad(mutate(tree(ok), [4], 1), /requireActivationSuccess: expected a boolean, got number 1/);
  });
  it('malformed notification addresses', () => {
    const addr = [0, 0, 1, 0, 3, 0, 0];
    bad(mutate(tree(ok), addr, Uint8Array.from([9, 1])), /notify\[0\]\.address: invalid address bytes: unknown protocol/);
    bad(mutate(tree(ok), addr, Uint8Array.from([0])), /too short/);
    bad(mutate(tree(ok), addr, Uint8Array.from([0, 0x85])), /ID payload is not one canonical LEB128 u64/);
    bad(mutate(tree(ok), addr, Uint8Array.from([0, 0x85, 0x00])), /not one canonical LEB128/);
    bad(mutate(tree(ok), addr, Uint8Array.from([1, ...new Uint8Array(19)])), /payload must be 20 bytes, got 19/);
    bad(mutate(tree(ok), addr, '0005'), /expected a byte string/);
  });
  it('trailing garbage', () => {
    bad(Uint8Array.from([...unhex(vector(ok).hex), 0xf6]), /not valid DAG-CBOR/);
  });
});

describe('decodeProveReplicaUpdates3 rejects', () => {
  const ok = 'replica-update';
  const bad = (data: Uint8Array, message: RegExp) => assert.throws(() => decodeProveReplicaUpdates3(data), message);

  it('a non-array top level and wrong arity', () => {
    bad(dagCbor.encode(null), /expected ProveReplicaUpdates3Params as an array of 7 fields, got null/);
    bad(mutate(tree(ok), [0, 0, 5], 'extra'), /sectorUpdates\[0\]: expected .* of 5 fields, got an array of 6/);
  });
  it('a string where an integer belongs', () => {
    bad(mutate(tree(ok), [0, 0, 1], '3'), /sectorUpdates\[0\]\.deadline: expected an integer, got string "3"/);
    bad(mutate(tree(ok), [3], null), /updateProofsType: expected an integer, got null/);
  });
  it('a negative sector number or partition', () => {
    bad(mutate(tree(ok), [0, 0, 0], -7), /sectorUpdates\[0\]\.sector: expected a non-negative integer, got -7/);
    bad(mutate(tree(ok), [0, 0, 2], -1), /sectorUpdates\[0\]\.partition: expected a non-negative integer/);
  });
  it('a non-CID new sealed cid', () => {
    bad(mutate(tree(ok), [0, 0, 3], 'bagboea4b5abcaaydambqgayd'), /sectorUpdates\[0\]\.newSealedCid: expected a CID/);
  });
  it('trailing garbage', () => {
    bad(Uint8Array.from([...unhex(vector(ok).hex), 0x80]), /not valid DAG-CBOR/);
  });
});

describe('encoders validate their input', () => {
  const pre = fromJson(vector('precommit-cc').input) as PreCommitSectorBatchParams2;
  const sector = pre.sectors[0]!;

  it('rejects negative, fractional and unsafe u64 values', () => {
    for (const sectorNumber of [-1, 1.5, 2 ** 53]) {
      assert.throws(
        () => encodePreCommitSectorBatch2({ sectors: [{ ...sector, sectorNumber }] }),
        /PreCommitSectorBatchParams2\.sectors\[0\]\.sectorNumber: expected/,
      );
    }
  });
  it('accepts negative i64 epochs, as the wire type allows', () => {
    const params = { sectors: [{ ...sector, sealRandEpoch: -5 }] };
    assert.deepEqual(decodePreCommitSectorBatch2(encodePreCommitSectorBatch2(params)), params);
  });
  it('rejects a non-CID and missing fields', () => {
    const notCid = 'bagboea4b5abcaaibaeaqcaib' as unknown as CID;
    assert.throws(
      () => encodePreCommitSectorBatch2({ sectors: [{ ...sector, sealedCid: notCid }] }),
      /sealedCid: expected a CID/,
    );
    const { expiration: _dropped, ...missing } = sector;
    assert.throws(
      () => encodePreCommitSectorBatch2({ sectors: [missing as typeof sector] }),
      /sectors\[0\]\.expiration: expected an integer, got undefined/,
    );
    const nothing = null as unknown as PreCommitSectorBatchParams2;
    assert.throws(() => encodePreCommitSectorBatch2(nothing), /expected a PreCommitSectorBatchParams2 object, got null/);
  });
  it('rejects a bad proof in ProveCommitSectors3', () => {
    const pc = fromJson(vector('provecommit-cc').input) as ProveCommitSectors3Params;
    assert.throws(
      () => encodeProveCommitSectors3({ ...pc, sectorProofs: ['ac' as unknown as Uint8Array] }),
      /ProveCommitSectors3Params\.sectorProofs\[0\]: expected a byte string, got string "ac"/,
    );
  });
});

describe('BatchReturn', () => {
  it('round-trips the hand-derived layout', () => {
    // 82 [success_count, fail_codes] · 02 · 81 [1 FailCode] · 82 [idx, code] · 01 · 10 (16 = USR_ILLEGAL_ARGUMENT)
    const ret = { successCount: 2, failCodes: [{ idx: 1, code: 16 }] };
    assert.equal(hex(encodeBatchReturn(ret)), '820281820110');
    assert.deepEqual(decodeBatchReturn(unhex('820281820110')), ret);
    assert.throws(() => decodeBatchReturn(unhex('8102')), /expected BatchReturn as an array of 2 fields/);
    assert.throws(() => encodeBatchReturn({ successCount: 2 ** 32, failCodes: [] }), /below 2\^32/);
  });
});

describe('RLE+ bitfields', () => {
  it('round-trip sets of every run shape, minimally encoded', () => {
    const sets = [[], [0], [1], [0, 1, 2], [5, 6, 7, 40], [100, 101, 102, 1000], Array.from({ length: 300 }, (_, i) => i * 2), [2 ** 40]];
    for (const set of sets) {
      const bytes = encodeRlePlus(set);
      assert.deepEqual(decodeRlePlus(bytes), set);
      assert.notEqual(bytes[bytes.length - 1], 0, 'no trailing zero byte');
      assert.deepEqual(fromRunsJson(toRunsJson(set)), set);
    }
    assert.deepEqual(toRunsJson([]), [0]);
    assert.deepEqual(toRunsJson([2, 3, 4]), [2, 3]);
  });

  it('refuses what the actors refuse, naming the field', () => {
    assert.throws(() => decodeRlePlus(Uint8Array.of(0x0c, 0x00), 'skipped'), /skipped: RLE\+ bitfield has trailing zero bytes/);
    assert.throws(() => decodeRlePlus(Uint8Array.of(0x01)), /unsupported RLE\+ version/);
    // 00 0 01 1000 1 (bits in stream order): a short block holding a run of 1, which must be a single-bit block.
    assert.throws(() => decodeRlePlus(Uint8Array.of(0x30, 0x02)), /short run of 1 is not minimally encoded/);
    // 00 0 00 11000000 ...: a long block holding a run of 3.
    assert.throws(() => decodeRlePlus(Uint8Array.of(0x60, 0x80)), /long run of 3 is not minimally encoded/);
    // 00 0 1 1 01 0100: one zero, one one, then a trailing run of two zeros.
    assert.throws(() => decodeRlePlus(Uint8Array.of(0x58, 0x01)), /ends with a run of zeros/);
  });

  it('reject unsorted members in params and undecodable bitfields with the field named', () => {
    assert.throws(() => encodeTerminateSectors({ terminations: [{ deadline: 0, partition: 0, sectors: [3, 1] }] }), /terminations\[0\]\.sectors: bitfield members must be sorted and distinct/);
    const bad = dagCbor.encode([[[0, 0, Uint8Array.of(0x01)]]]);
    assert.throws(() => decodeDeclareFaults(bad), /DeclareFaultsParams\.faults\[0\]\.sectors: unsupported RLE\+ version/);
  });

  it('encode the TerminateSectors return as a one-field tuple', () => {
    assert.equal(hex(encodeTerminateSectorsReturn({ done: true })), '81f5');
    assert.deepEqual(decodeTerminateSectorsReturn(unhex('81f4')), { done: false });
  });
});
