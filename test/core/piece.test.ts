import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CID } from 'multiformats/cid';
import { create as createDigest } from 'multiformats/hashes/digest';
import { commitmentToCid, hashNodes, zeroCommitment } from '../../src/core/commitment.js';
import {
  fr32Pad,
  fr32Unpad,
  hashNodesFast,
  MAX_PIECE_PAYLOAD,
  paddedPieceSize,
  pieceCommitment,
  PieceHasher,
  unpaddedPieceSize,
} from '../../src/core/piece.js';
import { mulberry32 as prng } from '../helpers/random.js';

const VECTORS = new URL('./vectors/piece/', import.meta.url);
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Fr32 padding straight from its definition: input bit b (LSB-first) goes to output bit b + 2·⌊b/254⌋. */
function fr32PadBitwise(input: Uint8Array): Uint8Array {
  const out = new Uint8Array((input.length / 127) * 128);
  for (let b = 0; b < input.length * 8; b++) {
    if ((input[b >> 3]! >> (b & 7)) & 1) {
      const block = Math.floor(b / 1016);
      const inBlock = b % 1016;
      const q = block * 1024 + inBlock + 2 * Math.floor(inBlock / 254);
      out[q >> 3]! |= 1 << (q & 7);
    }
  }
  return out;
}

/** CommP the slow, obvious way: whole padded piece in memory, one tree level at a time with `hashNodes`. */
function naiveCommP(payload: Uint8Array): Uint8Array {
  const unpadded = new Uint8Array(unpaddedPieceSize(paddedPieceSize(payload.length)));
  unpadded.set(payload);
  const padded = fr32Pad(unpadded);
  let level: Uint8Array[] = [];
  for (let i = 0; i < padded.length; i += 32) level.push(padded.subarray(i, i + 32));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(hashNodes(level[i]!, level[i + 1]!));
    level = next;
  }
  return level[0]!;
}

/** storacha/data-segment `test/util.js` deriveBuffer: each 64-byte block is the SHA-512 of the previous 64 bytes. */
function deriveBuffer(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 64) {
    const digest = createHash('sha512')
      .update(out.subarray(Math.max(0, offset - 64), offset))
      .digest();
    out.set(digest.subarray(0, size - offset), offset);
  }
  return out;
}

function* chunks(data: Uint8Array, sizes: () => number): Generator<Uint8Array> {
  for (let off = 0; off < data.length; ) {
    const n = Math.min(sizes(), data.length - off);
    yield data.subarray(off, off + n);
    off += n;
  }
}

async function* asAsync(parts: Iterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}


/** Payload sizes around the hasher's internal 2048-block (260096-byte) batches. */
const BATCH = 2048 * 127;

describe('fr32', () => {
  it('pads 127 bytes of 0xff to four 32-byte chunks of 31×0xff then 0x3f', () => {
    // 127 bytes = 1016 one-bits. Each 32-byte chunk takes the next 254 of them into bits 0..253 and leaves
    // bits 254, 255 (the top two bits of its byte 31) zero: 31 bytes 0xff, then 0b00111111 = 0x3f.
    // 4 × 254 = 1016, so all four chunks are full.
    const chunk = [...Array<number>(31).fill(0xff), 0x3f];
    const expected = Uint8Array.from([...chunk, ...chunk, ...chunk, ...chunk]);
    assert.equal(hex(fr32Pad(new Uint8Array(127).fill(0xff))), hex(expected));
    assert.equal(hex(fr32Unpad(expected)), hex(new Uint8Array(127).fill(0xff)));
  });

  it('moves every single input bit b to output bit b + 2·⌊b/254⌋', () => {
    // Hand-checked corners: bit 253 (byte 31, 0x20) stays in chunk 0; bit 254 (byte 31, 0x40) is chunk 1's
    // bit 0 = output byte 32, 0x01; bit 1015 (byte 126, 0x80) is chunk 3's bit 253 = output bit 1021 =
    // byte 127, 0x20.
    const corners: [number, number, number][] = [
      [253, 31, 0x20],
      [254, 32, 0x01],
      [507, 63, 0x20],
      [508, 64, 0x01],
      [762, 96, 0x01],
      [1015, 127, 0x20],
    ];
    for (const [bit, byte, mask] of corners) {
      const input = new Uint8Array(127);
      input[bit >> 3] = 1 << (bit & 7);
      const expected = new Uint8Array(128);
      expected[byte] = mask;
      assert.equal(hex(fr32Pad(input)), hex(expected), `input bit ${bit}`);
    }
    for (let bit = 0; bit < 1016; bit++) {
      const input = new Uint8Array(127);
      input[bit >> 3] = 1 << (bit & 7);
      const padded = fr32Pad(input);
      const q = bit + 2 * Math.floor(bit / 254);
      const expected = new Uint8Array(128);
      expected[q >> 3] = 1 << (q & 7);
      assert.equal(hex(padded), hex(expected), `input bit ${bit}`);
      assert.equal(hex(fr32Unpad(padded)), hex(input), `unpad of input bit ${bit}`);
    }
  });

  it('matches the bitwise definition and round-trips on random data', () => {
    for (const blocks of [1, 2, 3, 17, 64]) {
      const input = new Uint8Array(randomBytes(127 * blocks));
      const padded = fr32Pad(input);
      assert.equal(padded.length, 128 * blocks);
      assert.equal(hex(padded), hex(fr32PadBitwise(input)), `${blocks} blocks`);
      for (let i = 31; i < padded.length; i += 32) assert.equal(padded[i]! & 0xc0, 0, `top bits of byte ${i}`);
      assert.equal(hex(fr32Unpad(padded)), hex(input));
    }
    // Unpadding drops the two spare bits of every chunk (the top bits of bytes 31, 63, 95, 127): a block with
    // only those set unpads to zeros, and padding back gives any input with them cleared.
    const spare = new Uint8Array(128);
    for (const i of [31, 63, 95, 127]) spare[i] = 0xc0;
    assert.equal(hex(fr32Unpad(spare)), hex(new Uint8Array(127)));
    const noisy = new Uint8Array(randomBytes(128 * 5));
    const cleared = noisy.slice();
    for (let i = 31; i < cleared.length; i += 32) cleared[i]! &= 0x3f;
    assert.equal(hex(fr32Pad(fr32Unpad(noisy))), hex(cleared));
    assert.equal(fr32Pad(new Uint8Array(0)).length, 0);
  });

  it('refuses lengths that are not whole blocks', () => {
    assert.throws(() => fr32Pad(new Uint8Array(128)), /multiple of 127 bytes, got 128/);
    assert.throws(() => fr32Unpad(new Uint8Array(127)), /multiple of 128 bytes, got 127/);
  });
});

describe('piece sizes', () => {
  it('rounds a payload up to the smallest padded piece that holds it', () => {
    const table: [number, number][] = [
      [0, 128],
      [1, 128],
      [65, 128],
      [127, 128],
      [128, 256],
      [254, 256],
      [255, 512],
      [1016, 1024],
      [1017, 2048],
      [2032, 2048],
      [127 * 1024 ** 2, 128 * 1024 ** 2],
      [127 * 1024 ** 2 + 1, 256 * 1024 ** 2],
      [MAX_PIECE_PAYLOAD, 32 * 1024 ** 3],
      [MAX_PIECE_PAYLOAD + 1, 64 * 1024 ** 3],
    ];
    for (const [payload, padded] of table) assert.equal(paddedPieceSize(payload), padded, `payload ${payload}`);
    assert.throws(() => paddedPieceSize(-1), /non-negative integer, got -1/);
    assert.throws(() => paddedPieceSize(1.5), /non-negative integer, got 1.5/);
  });

  it('gives the unpadded capacity of a padded size', () => {
    assert.equal(unpaddedPieceSize(128), 127);
    assert.equal(unpaddedPieceSize(2048), 2032);
    assert.equal(unpaddedPieceSize(32 * 1024 ** 3), MAX_PIECE_PAYLOAD);
    for (const bad of [0, 64, 129, 1000, 3 * 1024]) {
      assert.throws(() => unpaddedPieceSize(bad), /power of two ≥ 128/, `padded ${bad}`);
    }
  });
});

describe('piece commitment', () => {
  it('hashes tree nodes exactly like hashNodes', () => {
    const zero = new Uint8Array(32);
    assert.equal(hex(hashNodesFast(zero, zero)), hex(zeroCommitment(64)));
    for (let i = 0; i < 200; i++) {
      const left = new Uint8Array(randomBytes(32));
      const right = new Uint8Array(randomBytes(32));
      assert.equal(hex(hashNodesFast(left, right)), hex(hashNodes(left, right)));
    }
  });

  it('gives the zero commitment of the padded size for all-zero payloads', async () => {
    for (const size of [1, 64, 127, 128, 1016, 1017, 127 * 64, BATCH - 1, BATCH, BATCH + 1, 3 * BATCH + 300, 4 * BATCH]) {
      const result = await pieceCommitment(new Uint8Array(size));
      assert.equal(result.paddedSize, paddedPieceSize(size), `payload ${size}`);
      assert.equal(result.payloadSize, size);
      assert.equal(hex(result.commP), hex(zeroCommitment(result.paddedSize)), `payload ${size}`);
    }
  });

  it('matches a naive whole-tree computation', async () => {
    const sizes = [1, 100, 127, 128, 129, 1000, 4096, 127 * 33, BATCH - 127, BATCH, BATCH + 127 * 5 + 3, 2 * BATCH + 1];
    for (const size of sizes) {
      const payload = new Uint8Array(randomBytes(size));
      const result = await pieceCommitment(payload);
      assert.equal(hex(result.commP), hex(naiveCommP(payload)), `payload ${size}`);
    }
  });

  // go-fil-commp-hashhash testdata/{zero,0xCC}.txt (commit 4dd194bf; see vectors/piece/README.md): payloads
  // of `size` identical bytes, commitments computed by Lotus ClientCalcCommP.
  for (const [file, fill] of [
    ['go-fil-commp-hashhash-zero.txt', 0x00],
    ['go-fil-commp-hashhash-0xCC.txt', 0xcc],
  ] as const) {
    it(`matches the go-fil-commp-hashhash vectors in ${file}`, async () => {
      const lines = readFileSync(new URL(file, VECTORS), 'utf8').trim().split('\n');
      assert.ok(lines.length >= 18);
      for (const line of lines) {
        const [size, padded, cid] = line.split(',');
        const result = await pieceCommitment(new Uint8Array(Number(size)).fill(fill));
        assert.equal(result.pieceCid, cid, `payload ${size}`);
        assert.equal(result.paddedSize, Number(padded), `payload ${size}`);
      }
    });
  }

  // storacha/data-segment test/commp/vector.csv (commit 76ef17be; see vectors/piece/README.md): pseudo-random
  // payloads from 65 bytes to 4 MiB, commitments computed by go-fil-commp-hashhash's stream-commp.
  it('matches the data-segment vectors on pseudo-random payloads', async () => {
    const [header, ...lines] = readFileSync(new URL('data-segment-commp.csv', VECTORS), 'utf8').trim().split('\n');
    assert.equal(header, 'contentSize,payload,paddedSize,pieceSize,commP');
    assert.ok(lines.length >= 80);
    const rows = lines.map((line) => {
      const [contentSize, payloadCid, , pieceSize, commP] = line.split(',').map((s) => s.trim());
      return { size: Number(contentSize), payloadCid, pieceSize: Number(pieceSize), commP };
    });
    // deriveBuffer(n) is a prefix of deriveBuffer(m) for n < m: derive once, slice per row.
    const source = deriveBuffer(Math.max(...rows.map((r) => r.size)));
    for (const row of rows) {
      const payload = source.subarray(0, row.size);
      const payloadCid = CID.createV1(0x55, createDigest(0x12, createHash('sha256').update(payload).digest()));
      assert.equal(payloadCid.toString(), row.payloadCid, `payload bytes of ${row.size}`);
      const result = await pieceCommitment(payload);
      assert.equal(result.pieceCid, row.commP, `payload ${row.size}`);
      assert.equal(result.paddedSize, row.pieceSize, `payload ${row.size}`);
      assert.equal(result.pieceCid, commitmentToCid('unsealed', result.commP).toString());
    }
  });

  it('gives the same result however the stream is split', async () => {
    const payload = new Uint8Array(randomBytes(3 * BATCH + 12345));
    const whole = await pieceCommitment(payload);
    const random = prng(42);
    const splits: [string, () => number][] = [
      ['1 byte', () => 1],
      ['127 bytes', () => 127],
      ['a batch', () => BATCH],
      ['a batch + 1', () => BATCH + 1],
      ['random up to 300', () => 1 + Math.floor(random() * 300)],
      ['random up to 2 batches', () => 1 + Math.floor(random() * 2 * BATCH)],
    ];
    for (const [name, sizes] of splits) {
      const data = name === '1 byte' ? payload.subarray(0, 20000) : payload;
      const expected = name === '1 byte' ? await pieceCommitment(data) : whole;
      const streamed = await pieceCommitment(asAsync(chunks(data, sizes)));
      assert.deepEqual(streamed, expected, name);
      const hasher = new PieceHasher();
      for (const part of chunks(data, sizes)) hasher.update(part);
      assert.equal(hex(hasher.digest().commP), hex(expected.commP), name);
    }
  });

  it('accepts empty chunks and returns the same digest twice', () => {
    const hasher = new PieceHasher();
    hasher.update(new Uint8Array(0));
    hasher.update(new Uint8Array(300).fill(7));
    hasher.update(new Uint8Array(0));
    const first = hasher.digest();
    assert.equal(hasher.payloadSize, 300);
    assert.deepEqual(hasher.digest(), first);
    assert.throws(() => hasher.update(new Uint8Array(1)), /after digest\(\)/);
  });

  it('refuses an empty payload', async () => {
    assert.throws(() => new PieceHasher().digest(), /empty payload \(0 bytes\)/);
    await assert.rejects(pieceCommitment(new Uint8Array(0)), /empty payload \(0 bytes\)/);
    await assert.rejects(pieceCommitment(asAsync([new Uint8Array(0)])), /empty payload/);
  });

  it('refuses payloads larger than a 32 GiB piece, naming the size', async () => {
    // The size check runs before any byte is read, so a stand-in with only a length exercises it without
    // 32 GiB of data; reading anything else from it throws, so a missing check fails fast instead of hashing.
    const lengthOnly = (length: number): Uint8Array =>
      new Proxy({}, {
        get: (_target, prop) => {
          if (prop === 'length') return length;
          if (prop === 'then') return undefined; // looked up when an async generator yields it
          throw new Error(`read ${String(prop)} of an oversized stand-in`);
        },
      }) as Uint8Array;
    assert.throws(
      () => new PieceHasher().update(lengthOnly(MAX_PIECE_PAYLOAD + 1)),
      /payload of 34091302913 bytes exceeds the largest piece payload of 34091302912 bytes/,
    );
    const hasher = new PieceHasher();
    hasher.update(new Uint8Array(10));
    assert.throws(() => hasher.update(lengthOnly(MAX_PIECE_PAYLOAD - 9)), /payload of 34091302913 bytes exceeds/);
    await assert.rejects(pieceCommitment(asAsync([new Uint8Array(1), lengthOnly(MAX_PIECE_PAYLOAD)])), /34091302913 bytes/);
  });
});
