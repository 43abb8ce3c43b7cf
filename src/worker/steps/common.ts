import { stat } from 'node:fs/promises';
import { join } from 'node:path';
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
export const filesOf = (ctx: StepContext) => sectorPaths(required(ctx.location, 'the thread location'), required(ctx.task.sector, 'sector'));

/** A CID as a file name: nothing from the wire may name a path outside the pieces directories. */
const PLAIN_CID = /^[A-Za-z0-9]+$/;

/** The piece's file in `local_pieces_dirs` (`<cid>`, then `<cid>.car`, directory by directory), if any. */
async function localPiece(dirs: readonly string[], cid: string): Promise<string | undefined> {
  if (!PLAIN_CID.test(cid)) return undefined;
  for (const dir of dirs) {
    for (const name of [cid, `${cid}.car`]) {
      const path = join(dir, name);
      if ((await stat(path).catch(() => null))?.isFile()) return path;
    }
  }
  return undefined;
}

/**
 * The add_pieces task for deal pieces, or CC when there are none. A piece found in `local_pieces_dirs` is read
 * from there; any other is fetched from the current manager's piece store. The task is built on every run of
 * the step, so the retry of a fetch from a manager that went down names the one the worker moved to. The URL
 * carries no token: it is written to the task, the event log and error texts; the processor sends the piece
 * token in a header.
 */
export async function addPiecesTask(ctx: StepContext, deals: SectorPieceV2[], staged: string): Promise<AddPiecesTask> {
  const pieces = await Promise.all(
    deals.map(async (d) => {
      const cid = d.Piece.PieceCID['/'];
      const local = await localPiece(ctx.pieceDirs, cid);
      return {
        piece_file: local === undefined ? { url: `${ctx.manager.base}/piecestore/${encodeURIComponent(cid)}` } : { local },
        payload_size: d.DealInfo.PayloadSize,
        piece_size: unpaddedPieceSize(d.Piece.Size),
      };
    }),
  );
  return { seal_proof_type: proofName(ctx.task), pieces, staged_filepath: staged };
}

/**
 * Asks the manager for work (a sector, deals) until it has some, as damocles' idle loop does: an empty answer
 * is asked again after `recover_interval`; after `request_task_max_retries` asks again without work the thread
 * rests `seal_interval` before a new round, and says so.
 */
export async function pollForTask<T>(ctx: StepContext, what: string, ask: () => Promise<T | undefined>): Promise<T> {
  const tries = ctx.sealing.request_task_max_retries + 1;
  for (;;) {
    for (let attempt = 1; attempt <= tries; attempt++) {
      const got = await ask();
      if (got !== undefined) return got;
      if (attempt < tries) await ctx.wait(ctx.sealing.recover_interval, `${what} (asked ${attempt}/${tries})`);
    }
    ctx.log.info({ tries, restMs: ctx.sealing.seal_interval }, `${what} after ${tries} asks (request_task_max_retries ${ctx.sealing.request_task_max_retries}): resting seal_interval before asking again`);
    await ctx.wait(ctx.sealing.seal_interval, `${what}: resting after ${tries} asks`);
  }
}

/** Polls until `check` answers, waiting `interval` between polls (interruptible by pause). */
export async function poll<T>(ctx: StepContext, interval: number, why: string, check: () => Promise<T | undefined>): Promise<T> {
  for (;;) {
    const answer = await check();
    if (answer !== undefined) return answer;
    await ctx.wait(interval, why);
  }
}
