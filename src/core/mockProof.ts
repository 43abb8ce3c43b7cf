import { blake2b } from '@noble/hashes/blake2.js';
import { sealProofInfo } from './proofTypes.js';

/**
 * Proofs of the `mock` processors. They are not zero-knowledge proofs: they are a keyed hash of the
 * public inputs, marked by a magic prefix, so the devnet can tell a mock proof that matches its sector from
 * a wrong or tampered one. Sized like the real thing (192 bytes per Groth16 partition).
 */
const MAGIC = new TextEncoder().encode('sfmock01');
const KEY = new TextEncoder().encode('sealfleet mock proof key v1');
const PARTITION_BYTES = 192;

export interface SealPublicInputs {
  miner: number;
  number: number;
  sealProof: number;
  commR: Uint8Array;
  commD: Uint8Array;
  ticket: Uint8Array;
  seed: Uint8Array;
}

export interface UpdatePublicInputs {
  miner: number;
  number: number;
  updateProof: number;
  oldCommR: Uint8Array;
  newCommR: Uint8Array;
  newCommD: Uint8Array;
}

/** What a Window PoSt proves: these replicas, challenged with this randomness, by this miner. */
export interface WindowPoStPublicInputs {
  miner: number;
  /** RegisteredPoStProof (10..14 = 2KiB..64GiB V1_1). */
  postProof: number;
  /** Beacon randomness (`WindowedPoStChallengeSeed`) at the deadline's challenge epoch, as drawn. */
  randomness: Uint8Array;
  /** Sorted by number; faulty sectors already replaced as the actor does. */
  sectors: { number: number; commR: Uint8Array }[];
}

function u64(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function mac(kind: string, parts: Uint8Array[]): Uint8Array {
  const h = blake2b.create({ key: KEY, dkLen: 32 });
  h.update(new TextEncoder().encode(kind));
  for (const p of parts) h.update(u64(p.length)).update(p);
  return h.digest();
}

function framed(tag: Uint8Array, partitions: number): Uint8Array {
  const out = new Uint8Array(PARTITION_BYTES * partitions);
  out.set(MAGIC, 0);
  out.set(tag, MAGIC.length);
  return out;
}

export function mockSealProof(p: SealPublicInputs): Uint8Array {
  const tag = mac('seal', [u64(p.miner), u64(p.number), u64(p.sealProof), p.commR, p.commD, p.ticket, p.seed]);
  return framed(tag, sealProofInfo(p.sealProof).partitions);
}

export function mockUpdateProof(p: UpdatePublicInputs): Uint8Array {
  const tag = mac('update', [u64(p.miner), u64(p.number), u64(p.updateProof), p.oldCommR, p.newCommR, p.newCommD]);
  return framed(tag, 1);
}

export function mockWindowPoStProof(p: WindowPoStPublicInputs): Uint8Array {
  const parts = [u64(p.miner), u64(p.postProof), p.randomness, u64(p.sectors.length)];
  for (const s of p.sectors) parts.push(u64(s.number), s.commR);
  return framed(mac('window-post', parts), 1);
}

export function isMockProof(proof: Uint8Array): boolean {
  return proof.length >= MAGIC.length && MAGIC.every((b, i) => proof[i] === b);
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export const verifyMockSealProof = (proof: Uint8Array, p: SealPublicInputs): boolean =>
  equalBytes(proof, mockSealProof(p));

export const verifyMockUpdateProof = (proof: Uint8Array, p: UpdatePublicInputs): boolean =>
  equalBytes(proof, mockUpdateProof(p));

export const verifyMockWindowPoStProof = (proof: Uint8Array, p: WindowPoStPublicInputs): boolean =>
  equalBytes(proof, mockWindowPoStProof(p));
