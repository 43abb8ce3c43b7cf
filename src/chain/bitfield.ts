/**
 * Filecoin bitfields (sets of sector or partition numbers) in their two wire forms: RLE+ bytes inside CBOR
 * params (the `fvm_ipld_bitfield` / go-bitfield encoding), and the Lotus JSON form, an array of run lengths
 * that starts with a run of zeros (`[0]` is the empty set, `[2, 3]` is {2, 3, 4}).
 *
 * RLE+ is a bit stream read from the least significant bit of each byte: a 2-bit version (0), one bit
 * giving the value of the first run, then runs whose values alternate: `1` is a run of one, `01` + 4 bits a
 * run of 2..15, `00` + an unsigned LEB128 varint any longer run. The decoder refuses every non-minimal form
 * the actors' decoder refuses, so what it accepts the chain accepts.
 */

/** Sorted, distinct numbers from any iterable of non-negative safe integers. */
export function normalize(values: Iterable<number>): number[] {
  const out = [...new Set(values)].sort((a, b) => a - b);
  for (const n of out) {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`bitfield member ${n} is not a non-negative integer`);
  }
  return out;
}

/** Alternating run lengths, the first a (possibly empty) run of zeros, the last a run of ones. */
function runsOf(sorted: number[]): number[] {
  const runs: number[] = [];
  let next = 0;
  let i = 0;
  while (i < sorted.length) {
    const start = sorted[i] as number;
    let end = start;
    while (sorted[i + 1] === end + 1) {
      end++;
      i++;
    }
    i++;
    runs.push(start - next, end - start + 1);
    next = end + 1;
  }
  return runs;
}

function setFromRuns(runs: number[], at: string): number[] {
  const out: number[] = [];
  let pos = 0;
  runs.forEach((len, i) => {
    if (i % 2 === 1) for (let k = 0; k < len; k++) out.push(pos + k);
    pos += len;
    if (!Number.isSafeInteger(pos)) throw new Error(`${at}: bitfield runs exceed the safe integer range`);
  });
  return out;
}

class BitWriter {
  private readonly bytes: number[] = [];
  private bit = 0;

  write(value: number, width: number): void {
    for (let i = 0; i < width; i++) {
      if (this.bit % 8 === 0) this.bytes.push(0);
      if ((value >> i) & 1) this.bytes[this.bytes.length - 1]! |= 1 << (this.bit % 8);
      this.bit++;
    }
  }

  /** The stream without trailing zero bytes: readers take missing bits as zeros. */
  done(): Uint8Array {
    let end = this.bytes.length;
    while (end > 0 && this.bytes[end - 1] === 0) end--;
    return new Uint8Array(this.bytes.slice(0, end));
  }
}

class BitReader {
  private bit = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Reads `width` bits; bits past the end are zeros. */
  read(width: number): number {
    let value = 0;
    for (let i = 0; i < width; i++) {
      const b = ((this.bytes[this.bit >> 3] ?? 0) >> (this.bit & 7)) & 1;
      value |= b << i;
      this.bit++;
    }
    return value;
  }

  /** Whether every bit left is zero: the padding of the last byte (no run is all zero bits). */
  atPadding(): boolean {
    for (let b = this.bit; b < this.bytes.length * 8; b++) if (((this.bytes[b >> 3] as number) >> (b & 7)) & 1) return false;
    return true;
  }
}

/** An unsigned LEB128 varint read 8 bits at a time, refusing non-minimal forms as the actors' decoder does. */
function readVarint(r: BitReader, at: string): number {
  let value = 0;
  let shift = 1;
  for (let i = 0; ; i++) {
    const byte = r.read(8);
    if (i > 0 && byte === 0) throw new Error(`${at}: RLE+ varint is not minimally encoded`);
    value += (byte & 0x7f) * shift;
    shift *= 128;
    if (!(byte & 0x80)) return value;
    if (i >= 8) throw new Error(`${at}: RLE+ varint is too long`);
  }
}

/** RLE+ bytes of a set; the empty set is zero bytes. */
export function encodeRlePlus(values: Iterable<number>): Uint8Array {
  const runs = runsOf(normalize(values));
  if (runs.length === 0) return new Uint8Array(0);
  const w = new BitWriter();
  w.write(0, 2);
  const firstIsOnes = runs[0] === 0;
  const body = firstIsOnes ? runs.slice(1) : runs;
  w.write(firstIsOnes ? 1 : 0, 1);
  for (const len of body) {
    if (len === 1) w.write(1, 1);
    else if (len < 16) {
      w.write(0b10, 2);
      w.write(len, 4);
    } else {
      w.write(0, 2);
      let n = len;
      do {
        const low = n % 128;
        n = Math.floor(n / 128);
        w.write(n > 0 ? low | 0x80 : low, 8);
      } while (n > 0);
    }
  }
  return w.done();
}

/** The set RLE+ bytes hold; throws, naming `at`, on anything the actors' decoder refuses. */
export function decodeRlePlus(bytes: Uint8Array, at = 'bitfield'): number[] {
  if (bytes.length === 0) return [];
  if (bytes[bytes.length - 1] === 0) throw new Error(`${at}: RLE+ bitfield has trailing zero bytes`);
  const r = new BitReader(bytes);
  if (r.read(2) !== 0) throw new Error(`${at}: unsupported RLE+ version`);
  const runs: number[] = r.read(1) === 1 ? [0] : [];
  while (!r.atPadding()) {
    let len: number;
    if (r.read(1) === 1) len = 1;
    else {
      const short = r.read(1) === 1;
      len = short ? r.read(4) : readVarint(r, at);
      if (short && len < 2) throw new Error(`${at}: RLE+ short run of ${len} is not minimally encoded`);
      if (!short && len < 16) throw new Error(`${at}: RLE+ long run of ${len} is not minimally encoded`);
    }
    runs.push(len);
  }
  if (runs.length % 2 === 1) throw new Error(`${at}: RLE+ bitfield ends with a run of zeros`);
  return setFromRuns(runs, at);
}

/** Lotus' JSON form of a bitfield. */
export function toRunsJson(values: Iterable<number>): number[] {
  const runs = runsOf(normalize(values));
  return runs.length === 0 ? [0] : runs;
}

export function fromRunsJson(runs: number[], at = 'bitfield'): number[] {
  for (const r of runs) if (!Number.isSafeInteger(r) || r < 0) throw new Error(`${at}: run length ${r} is not a non-negative integer`);
  return setFromRuns(runs, at);
}
