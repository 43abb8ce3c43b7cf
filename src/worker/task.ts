import type { PlanName, State } from '../core/plans/index.js';
import type { PieceInfo } from '../core/wire/processor.js';
import type { SectorPieceV2, SectorPublicInfo, Ticket } from '../core/wire/sealer.js';
import type { WdPoStJob, WdPoStOutput } from '../core/wire/wdpost.js';

/**
 * Everything a sealing thread knows about its current sector: what each step produced, written to the
 * location's database before the next step runs. A restarted daemon rebuilds the thread from it.
 */
export interface SectorTask {
  plan: PlanName;
  state: State;
  sector: { miner: number; number: number; proofType: number } | null;
  /** Deal pieces given by the manager (empty for CC). */
  deals: SectorPieceV2[];
  pieceInfos: PieceInfo[] | null;
  ticket: Ticket | null;
  pc1out: unknown;
  commR: number[] | null;
  commD: number[] | null;
  preResubmit: boolean;
  persistInstance: string | null;
  seed: { Seed: string; Epoch: number } | null;
  c1out: unknown;
  proof: string | null;
  proofResubmit: boolean;
  /** Snap-up: the CC sector being upgraded and where its files are. */
  snap: { public: SectorPublicInfo; accessInstance: string } | null;
  snapOut: { commRNew: number[]; commDNew: number[]; proof: string | null } | null;
  /** Rebuild: whether the sector had been snapped, and its snap pieces. */
  rebuild: { isSnapUp: boolean; upgradePublic: SectorPublicInfo | null } | null;
  snapPieceInfos: PieceInfo[] | null;
  abortReason: string | null;
  /** wdpost: the job taken from the manager, and what proving it gave (a proof, or the error to report). */
  wdpost: { job: WdPoStJob; output: WdPoStOutput | null; error: string | null } | null;
}

export const emptyTask = (plan: PlanName): SectorTask => ({
  plan,
  state: 'Empty',
  sector: null,
  deals: [],
  pieceInfos: null,
  ticket: null,
  pc1out: null,
  commR: null,
  commD: null,
  preResubmit: false,
  persistInstance: null,
  seed: null,
  c1out: null,
  proof: null,
  proofResubmit: false,
  snap: null,
  snapOut: null,
  rebuild: null,
  snapPieceInfos: null,
  abortReason: null,
  wdpost: null,
});
