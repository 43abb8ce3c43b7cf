import { createHash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import { create as createDigest } from 'multiformats/hashes/digest';

/**
 * Sector commitments as the chain names them: CommR in a `fil-commitment-sealed` CID with the
 * poseidon-bls12_381-a2-fc1 multihash, CommD and piece commitments in a `fil-commitment-unsealed` CID with
 * the sha2-256-trunc254-padded multihash (FRC-0069 / go-fil-commcid).
 */
export const COMMITMENT_CODECS = {
  sealed: { codec: 0xf102, hash: 0xb401 },
  unsealed: { codec: 0xf101, hash: 0x1012 },
} as const;
export type CommitmentKind = keyof typeof COMMITMENT_CODECS;

export function commitmentToCid(kind: CommitmentKind, commitment: Uint8Array): CID {
  if (commitment.length !== 32) throw new Error(`a ${kind} commitment is 32 bytes, got ${commitment.length}`);
  const { codec, hash } = COMMITMENT_CODECS[kind];
  return CID.createV1(codec, createDigest(hash, commitment));
}

/** The actor's `is_sealed_sector` / `is_unsealed_sector`: CIDv1 with this kind's codec, multihash and 32 bytes. */
export function isCommitmentCid(kind: CommitmentKind, cid: CID): boolean {
  const { codec, hash } = COMMITMENT_CODECS[kind];
  return cid.version === 1 && cid.code === codec && cid.multihash.code === hash && cid.multihash.size === 32;
}

/** The 32 commitment bytes inside a commitment CID; refuses a CID of the other kind. */
export function cidToCommitment(kind: CommitmentKind, cid: CID | string): Uint8Array {
  const parsed = typeof cid === 'string' ? CID.parse(cid) : cid;
  const { codec, hash } = COMMITMENT_CODECS[kind];
  if (!isCommitmentCid(kind, parsed)) {
    throw new Error(`${parsed.toString()} is not a ${kind} commitment CID (codec 0x${codec.toString(16)}, multihash 0x${hash.toString(16)})`);
  }
  return parsed.multihash.digest;
}

/** One node of the Filecoin binary merkle tree: sha256 of the two children, top two bits cleared (Fr32-safe). */
export function hashNodes(left: Uint8Array, right: Uint8Array): Uint8Array {
  const out = createHash('sha256').update(left).update(right).digest();
  out[31] = (out[31] as number) & 0x3f;
  return new Uint8Array(out);
}

const ZERO_COMMS: Uint8Array[] = [new Uint8Array(32)];

/**
 * The commitment of `paddedSize` zero bytes (a power of two ≥ 32): the CommD of a CC sector, and of the
 * filler pieces that pad a sector's data.
 */
export function zeroCommitment(paddedSize: number): Uint8Array {
  const level = Math.log2(paddedSize / 32);
  if (!Number.isSafeInteger(paddedSize) || !Number.isInteger(level) || level < 0) throw new Error(`zero commitment needs a power-of-two size ≥ 32 bytes, got ${paddedSize}`);
  while (ZERO_COMMS.length <= level) {
    const below = ZERO_COMMS[ZERO_COMMS.length - 1] as Uint8Array;
    ZERO_COMMS.push(hashNodes(below, below));
  }
  return ZERO_COMMS[level] as Uint8Array;
}

export interface PieceCommitment {
  /** Padded size: a power of two. */
  size: number;
  commitment: Uint8Array;
}

/**
 * CommD of a sector holding `pieces` in order, each aligned to its own size, the gaps and the tail
 * filled with zero pieces (what the chain computes as the sector's unsealed CID).
 */
export function unsealedSectorCommitment(sectorSize: number, pieces: readonly PieceCommitment[]): Uint8Array {
  const stack: PieceCommitment[] = [];
  let offset = 0;
  const push = (piece: PieceCommitment): void => {
    stack.push(piece);
    offset += piece.size;
    while (stack.length >= 2 && stack[stack.length - 1]?.size === stack[stack.length - 2]?.size) {
      const right = stack.pop() as PieceCommitment;
      const left = stack.pop() as PieceCommitment;
      stack.push({ size: left.size * 2, commitment: hashNodes(left.commitment, right.commitment) });
    }
  };
  const padTo = (alignment: number): void => {
    while (offset % alignment !== 0) {
      const gap = offset & -offset;
      push({ size: gap, commitment: zeroCommitment(gap) });
    }
  };
  for (const piece of pieces) {
    if (piece.size < 128 || (piece.size & (piece.size - 1)) !== 0) {
      throw new Error(`piece size ${piece.size} is not a padded piece size (a power of two ≥ 128)`);
    }
    padTo(piece.size);
    push(piece);
  }
  if (offset > sectorSize) throw new Error(`pieces fill ${offset} bytes, more than the ${sectorSize}-byte sector`);
  if (offset === 0) return zeroCommitment(sectorSize);
  padTo(sectorSize);
  return (stack[0] as PieceCommitment).commitment;
}
