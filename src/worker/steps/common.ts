import { abort } from '../../core/errors.js';
import { sealProofInfo } from '../../core/proofTypes.js';
import { unpaddedPieceSize } from '../../core/piece.js';
import type { AddPiecesTask } from '../../core/wire/processor.js';
import type { SectorPieceV2 } from '../../core/wire/sealer.js';
import { sectorPaths } from '../paths.js';
import type { SectorTask } from '../task.js';
import type { StepContext } from './context.js';

/** A field an earlier step must have stored; without it the sector cannot go on. */
export function required<T>(value: T | null | undefined, name: string): T {
  if (value === null || value === undefined) throw abort(`${name} is required in this state but missing from the sector record`);
  return value;
}

export const proofName = (task: SectorTask): string => sealProofInfo(required(task.sector, 'sector').proofType).name;
export const sectorSize = (task: SectorTask): number => sealProofInfo(required(task.sector, 'sector').proofType).sectorSize;
export const filesOf = (ctx: StepContext) => sectorPaths(ctx.location, required(ctx.task.sector, 'sector'));

/**
 * The add_pieces task for deal pieces (fetched from the manager's piece store), or CC when there are none. The
 * URL carries no token: it is written to the task, the event log and error texts; the processor sends the piece
 * token in a header.
 */
export function addPiecesTask(ctx: StepContext, deals: SectorPieceV2[], staged: string): AddPiecesTask {
  return {
    seal_proof_type: proofName(ctx.task),
    pieces: deals.map((d) => ({
      piece_file: { url: `${ctx.manager.base}/piecestore/${encodeURIComponent(d.Piece.PieceCID['/'])}` },
      payload_size: d.DealInfo.PayloadSize,
      piece_size: unpaddedPieceSize(d.Piece.Size),
    })),
    staged_filepath: staged,
  };
}

/** Polls until `check` answers, waiting `interval` between polls (interruptible by pause). */
export async function poll<T>(ctx: StepContext, interval: number, why: string, check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const answer = await check();
    if (answer !== undefined) return answer;
    await ctx.wait(interval, why);
  }
}
