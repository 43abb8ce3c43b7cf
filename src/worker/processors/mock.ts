/**
 * The `mock` processors: a documented simulation mode for tests, demos and benchmarks — not a sealing
 * implementation. Every stage waits its configured time, fails with the configured probability, and returns
 * deterministic outputs of the real shapes. The outputs are consistent with the rest of the system: piece
 * infos and CommD are the real commitments of the data, so the manager and the chain see the same values
 * they would for real sectors, and the proofs are `core/mockProof` proofs that the devnet's mock verifier
 * accepts for exactly these public inputs. Replicas, trees and caches are placeholder files of the right names
 * (sparse where they have the sector's size).
 */
import { createHash } from 'node:crypto';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { zeroCommitment } from '../../core/commitment.js';
import { mockSealProof, mockUpdateProof, mockWindowPoStProof, verifyMockSealProof, verifyMockUpdateProof, type SealPublicInputs } from '../../core/mockProof.js';
import { PieceHasher } from '../../core/piece.js';
import { sealProofByName, UPDATE_PROOFS, windowPoStProofByName } from '../../core/proofTypes.js';
import {
  proverId,
  type AddPiecesTask,
  type Bytes32,
  type C1Task,
  type C2Output,
  type C2Task,
  type PC1Task,
  type PC2Output,
  type PC2Task,
  type PieceInfo,
  type SnapEncodeOutput,
  type SnapEncodeTask,
  type SnapPartitionProofsTask,
  type SnapProveTask,
  type Stage,
  type TreeDTask,
  type VerifySealTask,
  type VerifySnapTask,
  type WindowPoStOutput,
  type WindowPoStTask,
} from '../../core/wire/processor.js';
import type { ProcessorsConfig } from './types.js';
import { CACHE_FILES, sparseFile, type StageHandler, type StageHandlers } from './common.js';
import { bytes32 } from '../../core/processor/outputs.js';
import { ccPieceInfos, checkFits, filePieceCommitment, paddedOf, paddedPieceCommitment, pieceData, sectorCommD, type PieceAccess } from './pieces.js';
import { transfer } from './transfer.js';

const MARKER = 'sealfleet mock processor output\n';

export function createMockHandlers(config: ProcessorsConfig['mock'], pieceAccess: PieceAccess): StageHandlers {
  const simulate =
    <S extends Stage>(stage: S, work: StageHandler<S>): StageHandler<S> =>
    async (task) => {
      const ms = config.stage_times[stage] ?? config.stage_time;
      // No timer at all for zero: the zero-delay pipeline is what the orchestration benchmark measures.
      if (ms > 0) await sleep(ms);
      const failure = config.fail[stage] ?? 0;
      if (failure > 0 && Math.random() < failure) throw new Error(`mock failure injected at ${stage}`);
      return work(task);
    };
  return {
    add_pieces: simulate('add_pieces', (task) => addPieces(task, pieceAccess)),
    tree_d: simulate('tree_d', treeD),
    pc1: simulate('pc1', pc1),
    pc2: simulate('pc2', pc2),
    c1: simulate('c1', c1),
    c2: simulate('c2', c2),
    snap_encode: simulate('snap_encode', snapEncode),
    snap_partition_proofs: simulate('snap_partition_proofs', snapPartitionProofs),
    snap_prove: simulate('snap_prove', snapProve),
    verify_seal: simulate('verify_seal', verifySeal),
    verify_snap: simulate('verify_snap', verifySnap),
    piece_commitment: simulate('piece_commitment', filePieceCommitment),
    transfer: simulate('transfer', transfer),
    window_post: simulate('window_post', windowPost),
  };
}

// ----------------------------------------------------------------------------------------------------
// Data: real commitments, placeholder files
// ----------------------------------------------------------------------------------------------------

/** The staged file is all zeros (sparse), but the piece infos are the real commitments of the pieces. */
async function addPieces(task: AddPiecesTask, pieceAccess: PieceAccess): Promise<PieceInfo[]> {
  const { sectorSize } = sealProofByName(task.seal_proof_type);
  checkFits(sectorSize, task.pieces);
  const infos: PieceInfo[] = [];
  for (const piece of task.pieces) {
    const padded = paddedOf(piece.piece_size);
    let commitment: Uint8Array;
    if (piece.piece_file === 'pledge') {
      commitment = zeroCommitment(padded);
    } else {
      const hasher = new PieceHasher();
      for await (const chunk of pieceData(piece.piece_file, piece.payload_size, pieceAccess)) hasher.update(chunk);
      commitment = paddedPieceCommitment(hasher, padded);
    }
    infos.push({ commitment: Array.from(commitment), size: piece.piece_size });
  }
  await sparseFile(task.staged_filepath, sectorSize);
  return infos.length > 0 ? infos : ccPieceInfos(sectorSize);
}

async function treeD(task: TreeDTask): Promise<boolean> {
  await mkdir(task.cache_dir, { recursive: true });
  await writeFile(join(task.cache_dir, CACHE_FILES.treeD), MARKER);
  return true;
}

// ----------------------------------------------------------------------------------------------------
// Sealing: commitments derived from the public inputs
// ----------------------------------------------------------------------------------------------------

const MockPC1Out = z.object({
  mock: z.literal(true),
  registered_proof: z.string(),
  sector_id: z.number().int().nonnegative(),
  prover_id: bytes32,
  ticket: bytes32,
  comm_d: bytes32,
});
type MockPC1Out = z.output<typeof MockPC1Out>;
const MockC1Out = MockPC1Out.extend({ seed: bytes32, comm_r: bytes32 });
type MockC1Out = z.output<typeof MockC1Out>;

async function pc1(task: PC1Task): Promise<MockPC1Out> {
  const { sectorSize } = sealProofByName(task.registered_proof);
  const commD = sectorCommD(sectorSize, task.piece_infos);
  await sparseFile(task.out_path, sectorSize);
  return {
    mock: true,
    registered_proof: task.registered_proof,
    sector_id: task.sector_id,
    prover_id: check32(task.prover_id, 'prover_id'),
    ticket: check32(task.ticket, 'ticket'),
    comm_d: Array.from(commD),
  };
}

/** CommR of a mock replica: a field element bound to everything PC1 and PC2 depend on. */
const mockCommR = (out: MockPC1Out): Uint8Array => fieldHash('comm_r', out.prover_id, out.sector_id, out.ticket, out.comm_d);

async function pc2(task: PC2Task): Promise<PC2Output> {
  const out = parseOpaque(MockPC1Out, task.pc1out, 'pc1out', 'pc1');
  const commR = mockCommR(out);
  await writeReplicaCache(task.cache_dir, commR, true);
  return { registered_proof: out.registered_proof, comm_r: Array.from(commR), comm_d: out.comm_d };
}

/** The cache files persisted with a replica; p_aux holds comm_c ‖ comm_r_last as in rust-fil-proofs. */
async function writeReplicaCache(dir: string, commR: Uint8Array, withTAux: boolean): Promise<Uint8Array> {
  const commRLast = fieldHash('comm_r_last', commR);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, CACHE_FILES.pAux), Buffer.concat([fieldHash('comm_c', commR), commRLast]));
  await writeFile(join(dir, CACHE_FILES.treeRLast), commRLast);
  if (withTAux) await writeFile(join(dir, CACHE_FILES.tAux), MARKER);
  return commRLast;
}

/** Real C1 would fail on a CommD that is not the pieces' or a CommR that is not the replica's: so does this. */
async function c1(task: C1Task): Promise<MockC1Out> {
  const { sectorSize } = sealProofByName(task.registered_proof);
  const pc1out: MockPC1Out = {
    mock: true,
    registered_proof: task.registered_proof,
    sector_id: task.sector_id,
    prover_id: check32(task.prover_id, 'prover_id'),
    ticket: check32(task.ticket, 'ticket'),
    comm_d: check32(task.comm_d, 'comm_d'),
  };
  if (!equalBytes(sectorCommD(sectorSize, task.piece_infos), task.comm_d)) throw new Error('c1: comm_d is not the commitment of the sector\'s pieces');
  if (!equalBytes(mockCommR(pc1out), task.comm_r)) throw new Error('c1: comm_r is not the mock replica\'s (prover id, sector, ticket or comm_d differ from PC2\'s)');
  return { ...pc1out, seed: check32(task.seed, 'seed'), comm_r: task.comm_r };
}

async function c2(task: C2Task): Promise<C2Output> {
  const out = parseOpaque(MockC1Out, task.c1out, 'c1out', 'c1');
  if (out.sector_id !== task.sector_id || !equalBytes(Uint8Array.from(out.prover_id), task.prover_id)) {
    throw new Error(`c2: c1out belongs to another sector than sector ${task.sector_id} of miner ${task.miner_id} (sector_id or prover_id differ)`);
  }
  return { proof: Array.from(mockSealProof(sealInputs(out, task.miner_id))) };
}

async function verifySeal(task: VerifySealTask): Promise<boolean> {
  return verifyMockSealProof(Uint8Array.from(task.proof), sealInputs(task, minerOf(task.prover_id)));
}

function sealInputs(
  p: { registered_proof: string; sector_id: number; comm_r: Bytes32; comm_d: Bytes32; ticket: Bytes32; seed: Bytes32 },
  miner: number,
): SealPublicInputs {
  return {
    miner,
    number: p.sector_id,
    sealProof: sealProofByName(p.registered_proof).id,
    commR: bytes(p.comm_r, 'comm_r'),
    commD: bytes(p.comm_d, 'comm_d'),
    ticket: bytes(p.ticket, 'ticket'),
    seed: bytes(p.seed, 'seed'),
  };
}

// ----------------------------------------------------------------------------------------------------
// Snap-up
// ----------------------------------------------------------------------------------------------------

/** Snap tasks name the update proof (`StackedDrg2KiBV1`), as damocles does. */
function updateProofOf(name: string): { id: number; sectorSize: number } {
  const proof = UPDATE_PROOFS.find((p) => p.name === name);
  if (!proof) throw new Error(`unknown update proof "${name}": expected one of ${UPDATE_PROOFS.map((p) => p.name).join(', ')}`);
  return proof;
}

async function snapEncode(task: SnapEncodeTask): Promise<SnapEncodeOutput> {
  const { sectorSize } = updateProofOf(task.registered_proof);
  const commDNew = sectorCommD(sectorSize, task.piece_infos);
  // The old CommR is not in the task; the sector's file name stands in for the replica being updated.
  const commRNew = fieldHash('comm_r_new', new TextEncoder().encode(basename(task.sector_path)), commDNew);
  await sparseFile(task.new_replica_path, sectorSize);
  const commRLastNew = await writeReplicaCache(task.new_cache_path, commRNew, false);
  return { comm_r_new: Array.from(commRNew), comm_r_last_new: Array.from(commRLastNew), comm_d_new: Array.from(commDNew) };
}

const SNAP_VANILLA_MAGIC = new TextEncoder().encode('sfsnap01');

/** One "vanilla proof" carrying the miner and sector, which snap_prove needs and its task does not carry. */
async function snapPartitionProofs(task: SnapPartitionProofsTask): Promise<number[][]> {
  updateProofOf(task.registered_proof); // refuses an unknown proof type, as the real step would
  return [Array.from(Buffer.concat([SNAP_VANILLA_MAGIC, u64(task.miner_id), u64(task.sector_id)]))];
}

async function snapProve(task: SnapProveTask): Promise<number[]> {
  const vanilla = task.vannilla_proofs[0];
  const raw = Buffer.from(vanilla ?? []);
  if (task.vannilla_proofs.length !== 1 || raw.length !== 24 || !raw.subarray(0, 8).equals(SNAP_VANILLA_MAGIC)) {
    throw new Error('snap_prove: vannilla_proofs are not from the mock snap_partition_proofs');
  }
  return Array.from(
    mockUpdateProof({
      miner: Number(raw.readBigUInt64BE(8)),
      number: Number(raw.readBigUInt64BE(16)),
      updateProof: updateProofOf(task.registered_proof).id,
      oldCommR: bytes(task.comm_r_old, 'comm_r_old'),
      newCommR: bytes(task.comm_r_new, 'comm_r_new'),
      newCommD: bytes(task.comm_d_new, 'comm_d_new'),
    }),
  );
}

async function verifySnap(task: VerifySnapTask): Promise<boolean> {
  return verifyMockUpdateProof(Uint8Array.from(task.proof), {
    miner: task.miner_id,
    number: task.sector_id,
    updateProof: updateProofOf(task.registered_proof).id,
    oldCommR: bytes(task.comm_r_old, 'comm_r_old'),
    newCommR: bytes(task.comm_r_new, 'comm_r_new'),
    newCommD: bytes(task.comm_d_new, 'comm_d_new'),
  });
}

// ----------------------------------------------------------------------------------------------------
// Window PoSt
// ----------------------------------------------------------------------------------------------------

/**
 * The devnet's mock proof of exactly the challenged list (duplicates included, as the actor lists them). A
 * replica whose sealed file or cache is not there is a fault, as the sidecar reports an unreadable one, and
 * then there is no proof: the caller leaves the faults out and asks again.
 */
async function windowPost(task: WindowPoStTask): Promise<WindowPoStOutput> {
  const postProof = windowPoStProofByName(task.proof_type).id;
  const faults = new Set<number>();
  for (const r of task.replicas) {
    const present = await Promise.all([access(r.sealed_file), access(r.cache_dir)]).then(() => true, () => false);
    if (!present) faults.add(r.sector_id);
  }
  if (faults.size > 0) return { proofs: [], faults: [...faults] };
  const proof = mockWindowPoStProof({
    miner: task.miner_id,
    postProof,
    randomness: bytes(task.seed, 'seed'),
    sectors: task.replicas.map((r) => ({ number: r.sector_id, commR: bytes(r.comm_r, 'comm_r') })),
  });
  return { proofs: [Buffer.from(proof).toString('base64')], faults: [] };
}

// ----------------------------------------------------------------------------------------------------
// Helpers
// ----------------------------------------------------------------------------------------------------

function check32(value: Bytes32, name: string): Bytes32 {
  const parsed = bytes32.safeParse(value);
  if (!parsed.success) throw new Error(`${name} must be 32 bytes (numbers 0–255)`);
  return parsed.data;
}

const bytes = (value: Bytes32, name: string): Uint8Array => Uint8Array.from(check32(value, name));

function equalBytes(a: Uint8Array | Bytes32, b: Bytes32): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function u64(n: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(n));
  return out;
}

/** sha256 of a domain tag and length-framed parts, top two bits cleared so it is a valid field element like real commitments. */
function fieldHash(tag: string, ...parts: (Bytes32 | Uint8Array | number)[]): Uint8Array {
  const h = createHash('sha256').update(`sealfleet mock ${tag}`);
  for (const part of parts) {
    const data = typeof part === 'number' ? u64(part) : Uint8Array.from(part);
    h.update(u64(data.length)).update(data);
  }
  const out = new Uint8Array(h.digest());
  out[31]! &= 0x3f;
  return out;
}

/** The miner id inside a prover id (the uvarint `proverId` writes). */
function minerOf(prover: Bytes32): number {
  const raw = bytes(prover, 'prover_id');
  let miner = 0;
  for (let i = 0; i < 8 && (i === 0 || raw[i - 1]! & 0x80); i++) miner += (raw[i]! & 0x7f) * 128 ** i;
  if (!equalBytes(raw, proverId(miner))) throw new Error('prover_id is not an ID address payload (a uvarint actor id, zero-padded)');
  return miner;
}

function parseOpaque<T>(schema: z.ZodType<T>, value: unknown, name: string, stage: Stage): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${name} is not an output of the mock ${stage} processor: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
