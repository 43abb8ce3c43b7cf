import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hashNodes, zeroCommitment } from '../../core/commitment.js';
import { FR32_UNPADDED_BLOCK, fr32Pad, PieceHasher } from '../../core/piece.js';
import { sealProofByName } from '../../core/proofTypes.js';
import { formatSize } from '../../core/units.js';
import type { AddPiecesTask, PieceInfo, TreeDTask } from '../../core/wire/processor.js';
import { CACHE_FILES, type StageHandlers } from './common.js';
import { ccPieceInfos, checkFits, filePieceCommitment, paddedOf, paddedPieceCommitment, pieceData, type PieceAccess } from './pieces.js';
import { transfer } from './transfer.js';

/**
 * The `builtin` processors: the data steps done for real in TypeScript — the staged file in the layout
 * rust-fil-proofs expects, its tree_d, piece commitments and file transfers. Sealing and proving need the
 * proofs library: those stages run as `mock` or `external`.
 */

/**
 * Largest sector the builtin tree_d builds. Its memory is bounded, but `hashNodes` does ~1 M nodes/s, so a 32GiB
 * tree (2^30 nodes) would take most of an hour where the proofs library's SIMD hashing takes minutes.
 */
export const MAX_BUILTIN_TREE_D_SECTOR = 512 * 1024 ** 2;

/** Payload Fr32-padded and written per batch (2 MiB in, ~2 MiB out). */
const PAD_BATCH = FR32_UNPADDED_BLOCK * 16384;
/** Bytes of one tree level read per hashing batch. */
const LEVEL_BATCH = 1024 ** 2;

/**
 * The staged file of a sector: each piece's payload, zero-padded to its unpadded size and Fr32-padded, at the
 * next offset aligned to its padded size; gaps and the tail stay zero (a zero piece Fr32-pads to zeros), which is
 * where the filler pieces of the real layout go.
 */
async function addPieces(task: AddPiecesTask, pieceAccess: PieceAccess): Promise<PieceInfo[]> {
  const { sectorSize } = sealProofByName(task.seal_proof_type);
  checkFits(sectorSize, task.pieces);
  await mkdir(dirname(task.staged_filepath), { recursive: true });
  const file = await open(task.staged_filepath, 'w');
  try {
    await file.truncate(sectorSize);
    if (task.pieces.length === 0) return ccPieceInfos(sectorSize);
    const infos: PieceInfo[] = [];
    let offset = 0;
    for (const piece of task.pieces) {
      const padded = paddedOf(piece.piece_size);
      offset = Math.ceil(offset / padded) * padded;
      const commitment =
        piece.piece_file === 'pledge'
          ? zeroCommitment(padded)
          : await writePiece(file, offset, pieceData(piece.piece_file, piece.payload_size, pieceAccess), padded);
      infos.push({ commitment: Array.from(commitment), size: piece.piece_size });
      offset += padded;
    }
    await file.sync();
    return infos;
  } finally {
    await file.close();
  }
}

/** Fr32-pads `data` into the file at `offset` and returns the commitment of the piece of `padded` bytes. */
async function writePiece(file: FileHandle, offset: number, data: AsyncIterable<Uint8Array>, padded: number): Promise<Uint8Array> {
  const hasher = new PieceHasher();
  const batch = new Uint8Array(PAD_BATCH);
  let filled = 0;
  let position = offset;
  const flush = async (): Promise<void> => {
    const whole = Math.ceil(filled / FR32_UNPADDED_BLOCK) * FR32_UNPADDED_BLOCK;
    batch.fill(0, filled, whole);
    const out = fr32Pad(batch.subarray(0, whole));
    await file.write(out, 0, out.length, position);
    position += out.length;
    filled = 0;
  };
  for await (const chunk of data) {
    hasher.update(chunk);
    for (let pos = 0; pos < chunk.length; ) {
      const n = Math.min(chunk.length - pos, PAD_BATCH - filled);
      batch.set(chunk.subarray(pos, pos + n), filled);
      filled += n;
      pos += n;
      if (filled === PAD_BATCH) await flush();
    }
  }
  if (filled > 0) await flush();
  return paddedPieceCommitment(hasher, padded);
}

/**
 * tree_d in the rust-fil-proofs layout (`sc-02-data-tree-d.dat`): the staged file's 32-byte leaves, then each
 * level of the binary tree, root last — 2·sectorSize − 32 bytes. Each level is hashed from the file itself, so
 * memory stays at one batch whatever the sector size. Built under a temporary name: a crash never leaves a
 * partial tree that PC1 would trust.
 */
async function treeD(task: TreeDTask): Promise<boolean> {
  const { sectorSize } = sealProofByName(task.registered_proof);
  if (sectorSize > MAX_BUILTIN_TREE_D_SECTOR) {
    throw new Error(
      `builtin tree_d builds sectors up to ${formatSize(MAX_BUILTIN_TREE_D_SECTOR)}, not ${formatSize(sectorSize)}: run tree_d in an external processor`,
    );
  }
  const staged = await stat(task.staged_file);
  if (staged.size !== sectorSize) {
    throw new Error(`staged file ${task.staged_file} has ${staged.size} bytes, expected the sector size ${sectorSize}`);
  }
  await mkdir(task.cache_dir, { recursive: true });
  const target = join(task.cache_dir, CACHE_FILES.treeD);
  const temp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await copyFile(task.staged_file, temp);
    const file = await open(temp, 'r+');
    try {
      let levelStart = 0;
      for (let levelSize = sectorSize; levelSize > 32; levelSize /= 2) {
        await hashLevel(file, levelStart, levelSize);
        levelStart += levelSize;
      }
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  return true;
}

/** Hashes the level of `size` bytes at `start` into the next level, written right after it. */
async function hashLevel(file: FileHandle, start: number, size: number): Promise<void> {
  // Both sizes are powers of two, so every batch is whole.
  const batch = Buffer.alloc(Math.min(size, LEVEL_BATCH));
  const parents = Buffer.alloc(batch.length / 2);
  for (let done = 0; done < size; done += batch.length) {
    for (let got = 0; got < batch.length; ) {
      const { bytesRead } = await file.read(batch, got, batch.length - got, start + done + got);
      if (bytesRead === 0) throw new Error(`tree_d: unexpected end of file at ${start + done + got}`);
      got += bytesRead;
    }
    for (let i = 0; i < batch.length; i += 64) {
      parents.set(hashNodes(batch.subarray(i, i + 32), batch.subarray(i + 32, i + 64)), i / 2);
    }
    await file.write(parents, 0, parents.length, start + size + done / 2);
  }
}

/** The builtin stages; add_pieces fetches the manager's pieces with `pieceAccess`. */
export const builtinHandlers = (pieceAccess: PieceAccess): Partial<StageHandlers> => ({
  add_pieces: (task) => addPieces(task, pieceAccess),
  tree_d: treeD,
  piece_commitment: filePieceCommitment,
  transfer,
});
