import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Step } from './context.js';
import { addPiecesTask, filesOf } from './common.js';

/** DealsAcquired / Allocated: write the staged (unsealed) file from the deal pieces, or zeros for CC. */
export const addPieces: Step = async (ctx) => {
  const files = filesOf(ctx);
  await mkdir(dirname(files.staged), { recursive: true });
  const deals = ctx.task.rebuild?.isSnapUp ? [] : ctx.task.deals;
  ctx.running('add_pieces');
  const pieceInfos = await ctx.processors.run('add_pieces', await addPiecesTask(ctx, deals, files.staged));
  return { event: 'AddPiece', patch: { pieceInfos } };
};

/** SealedChecked (rebuild): a CC sector is done with its replica; a snapped one stages its snap pieces. */
export const addSnapPieces: Step = async (ctx) => {
  if (!ctx.task.rebuild?.isSnapUp) return { event: 'SkipSnap' };
  const files = filesOf(ctx);
  await mkdir(dirname(files.updateStaged), { recursive: true });
  ctx.running('add_pieces');
  const snapPieceInfos = await ctx.processors.run('add_pieces', await addPiecesTask(ctx, ctx.task.deals, files.updateStaged));
  return { event: 'AddPiece', patch: { snapPieceInfos } };
};
