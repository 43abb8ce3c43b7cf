import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { abort, permanent } from '../../core/errors.js';
import { UPDATE_PROOFS } from '../../core/proofTypes.js';
import { SubmitResult } from '../../core/wire/sealer.js';
import { storePaths } from '../paths.js';
import type { Step, StepContext } from './context.js';
import { idOf } from './context.js';
import { filesOf, required, sectorSize } from './common.js';

const updateProofName = (ctx: StepContext): string => required(UPDATE_PROOFS.find((p) => p.sectorSize === sectorSize(ctx.task)), 'update proof type').name;

/** Where the CC replica being upgraded lives: the persist store (snapup) or this location (rebuild). */
function oldReplica(ctx: StepContext): { sealed: string; cache: string; commR: number[] } {
  const { task } = ctx;
  if (task.snap) {
    const p = storePaths(ctx.attached.locate(task.snap.accessInstance, 'read'), required(task.sector, 'sector'));
    return { sealed: p.sealed, cache: p.cache, commR: task.snap.public.CommR };
  }
  const files = filesOf(ctx);
  return { sealed: files.sealed, cache: files.cache, commR: required(task.commR, 'CommR') };
}

/** TreeDBuilt (snapup) / SnapTreeDBuilt (rebuild): encode the new data into the CC replica. */
export const snapEncode: Step = async (ctx) => {
  const files = filesOf(ctx);
  const old = oldReplica(ctx);
  await mkdir(dirname(files.update), { recursive: true });
  await mkdir(files.updateCache, { recursive: true });
  const staged = ctx.task.rebuild ? files.updateStaged : files.staged;
  const pieces = ctx.task.rebuild ? required(ctx.task.snapPieceInfos, 'snap piece infos') : required(ctx.task.pieceInfos, 'piece infos');
  ctx.running('snap_encode');
  const out = await ctx.processors.run('snap_encode', {
    registered_proof: updateProofName(ctx),
    new_replica_path: files.update,
    new_cache_path: files.updateCache,
    sector_path: old.sealed,
    sector_cache_path: old.cache,
    staged_data_path: staged,
    piece_infos: pieces,
  });
  return { event: 'SnapEncode', patch: { snapOut: { commRNew: out.comm_r_new, commDNew: out.comm_d_new, proof: null } } };
};

/** SnapEncoded: vanilla partition proofs, then the update SNARK. */
export const snapProve: Step = async (ctx) => {
  const files = filesOf(ctx);
  const old = oldReplica(ctx);
  const out = required(ctx.task.snapOut, 'snap encode output');
  const sector = required(ctx.task.sector, 'sector');
  const registered = updateProofName(ctx);
  ctx.running('snap_partition_proofs');
  const vanilla = await ctx.processors.run('snap_partition_proofs', {
    registered_proof: registered,
    comm_r_old: old.commR,
    comm_r_new: out.commRNew,
    comm_d_new: out.commDNew,
    sector_path: old.sealed,
    sector_cache_path: old.cache,
    new_replica_path: files.update,
    new_cache_path: files.updateCache,
    sector_id: sector.number,
    miner_id: sector.miner,
  });
  ctx.running('snap_prove');
  const proof = await ctx.processors.run('snap_prove', { registered_proof: registered, vannilla_proofs: vanilla, comm_r_old: old.commR, comm_r_new: out.commRNew, comm_d_new: out.commDNew });
  return { event: 'SnapProve', patch: { snapOut: { ...out, proof: Buffer.from(proof).toString('base64') } } };
};

/** Persisted (snapup): submit the update; missing files send the sector back to persist them again. */
export const submitSnapUp: Step = async (ctx) => {
  const out = required(ctx.task.snapOut, 'snap output');
  const res = await ctx.manager.submitSnapUpProof(idOf(ctx.task), {
    CommR: out.commRNew,
    CommD: out.commDNew,
    AccessInstance: required(ctx.task.persistInstance, 'persist instance'),
    Pieces: ctx.task.deals.map((d) => d.Piece.PieceCID),
    Proof: required(out.proof, 'update proof'),
  });
  switch (res.Res) {
    case SubmitResult.Accepted:
    case SubmitResult.DuplicateSubmit:
      return { event: 'Finish' };
    case SubmitResult.FilesMissed:
      return { event: 'RePersist' };
    case SubmitResult.Rejected:
      throw abort(`snap-up rejected: ${res.Desc ?? ''}`);
    default:
      throw permanent(`snap-up not accepted (${res.Res}): ${res.Desc ?? ''}`);
  }
};

