import { z } from 'zod';
import { FAILURE_LEVELS } from '../errors.js';
import { BOUNDS, boundedArray, boundedString, labelString, nameString, pathString, requiredName, textString } from './bounds.js';

/**
 * The worker → manager sealer API (`Venus.*` on `/rpc/v0`), in damocles' JSON shapes: PascalCase keys,
 * `[32]byte` as an array of 32 numbers, bytes as base64, CIDs as `{"/": …}`, enums as integers.
 */
export const SubmitResult = { Unknown: 0, Accepted: 1, DuplicateSubmit: 2, MismatchedSubmission: 3, Rejected: 4, FilesMissed: 5 } as const;
export const OnChainState = { Unknown: 0, Pending: 1, Packed: 2, Landed: 3, NotFound: 4, Failed: 5, PermFailed: 6, ShouldAbort: 7 } as const;

/**
 * How our manager starts the description of a PreCommit it rejects for an expired ticket, so our worker
 * can roll the sector back to TreeDBuilt for a fresh ticket instead of dropping it.
 */
export const TICKET_EXPIRED = 'ticket expired';

/** The error code damocles uses for "sector state not found": workers abort the sector on it. */
export const SECTOR_STATE_NOT_FOUND = 11001;

const u64 = z.number().int().nonnegative();
const base64 = (max: number) => boundedString(max).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64');
const b64 = base64(BOUNDS.name);
export const Cid = z.object({ '/': boundedString(BOUNDS.name).min(1) });
export const Bytes32 = z.array(z.number().int().min(0).max(255)).length(32);

export const SectorID = z.object({ Miner: u64, Number: u64 });
export type SectorID = z.infer<typeof SectorID>;

export const AllocateSectorSpec = z.object({
  AllowedMiners: boundedArray(u64).nullable().optional(),
  AllowedProofTypes: boundedArray(z.number().int()).nullable().optional(),
});
export type AllocateSectorSpec = z.infer<typeof AllocateSectorSpec>;

export const AllocatedSector = z.object({ ID: SectorID, ProofType: z.number().int() });
export type AllocatedSector = z.infer<typeof AllocatedSector>;

export const AcquireDealsSpec = z.object({ MaxDeals: u64.nullable().optional(), MinUsedSpace: u64.nullable().optional() });
export type AcquireDealsSpec = z.infer<typeof AcquireDealsSpec>;

export const DealInfoV2 = z.looseObject({
  DealID: u64,
  PublishCid: Cid.nullable(),
  AllocationID: u64,
  PieceCID: Cid,
  PieceSize: u64,
  Client: boundedString(BOUNDS.name),
  Provider: boundedString(BOUNDS.name),
  Offset: u64,
  Length: u64,
  PayloadSize: u64,
  StartEpoch: z.number().int(),
  EndEpoch: z.number().int(),
  IsBuiltinMarket: z.boolean(),
  IsCompatible: z.boolean(),
});
export type DealInfoV2 = z.infer<typeof DealInfoV2>;

export const SectorPieceV2 = z.object({ Piece: z.object({ Size: u64, PieceCID: Cid }), DealInfo: DealInfoV2 });
export type SectorPieceV2 = z.infer<typeof SectorPieceV2>;

export const Ticket = z.object({ Ticket: b64, Epoch: z.number().int() });
export type Ticket = z.infer<typeof Ticket>;
export const Seed = z.object({ Seed: b64, Epoch: z.number().int() });
export type Seed = z.infer<typeof Seed>;

export const PreCommitOnChainInfo = z.object({ CommR: Bytes32, CommD: Bytes32, Ticket });
export type PreCommitOnChainInfo = z.infer<typeof PreCommitOnChainInfo>;

export const ProofOnChainInfo = z.object({ Proof: base64(BOUNDS.proof) });

export interface SubmitResp {
  Res: number;
  Desc: string | null;
}
export interface PollStateResp {
  State: number;
  Desc: string | null;
}
export interface WaitSeedResp {
  ShouldWait: boolean;
  Delay: number;
  Seed: Seed | null;
}

export const ReportStateReq = z.object({
  Worker: z.object({ Instance: nameString, Location: pathString }),
  StateChange: z.object({ Prev: labelString, Next: labelString, Event: labelString }),
  Failure: z.object({ Level: z.enum(FAILURE_LEVELS), Desc: textString }).nullable().optional(),
});
export type ReportStateReq = z.infer<typeof ReportStateReq>;

export interface SectorStateResp {
  Id: SectorID;
  Finalized: boolean;
  AbortReason: string | null;
}

export const AllocateSnapUpSpec = z.object({ Sector: AllocateSectorSpec, Deals: AcquireDealsSpec });

export interface SectorPublicInfo {
  CommR: number[];
  SealedCID: { '/': string };
  Activation: number;
  Expiration: number;
}

export interface AllocatedSnapUpSector {
  Sector: AllocatedSector;
  Pieces: SectorPieceV2[];
  Public: SectorPublicInfo;
  Private: { AccessInstance: string };
}

export const SnapUpOnChainInfo = z.object({
  CommR: Bytes32,
  CommD: Bytes32,
  AccessInstance: nameString,
  Pieces: boundedArray(Cid, BOUNDS.pieces),
  Proof: base64(BOUNDS.proof),
});
export type SnapUpOnChainInfo = z.infer<typeof SnapUpOnChainInfo>;

export interface SectorRebuildInfo {
  Sector: AllocatedSector;
  Ticket: Ticket;
  Pieces: null;
  PiecesV2: SectorPieceV2[] | null;
  IsSnapUp: boolean;
  UpgradePublic: SectorPublicInfo | null;
}

export const WorkerSummary = z.object({
  Threads: u64,
  Empty: u64,
  Paused: u64,
  Running: u64,
  Waiting: u64,
  Errors: u64,
  /** Threads told to drain (a sealfleet addition: damocles workers leave it out). */
  Draining: u64.optional(),
});

export const WorkerInfo = z.object({
  Name: requiredName('worker name is required'),
  Dest: requiredName('worker dest is required'),
  Version: boundedString(BOUNDS.name),
  Summary: WorkerSummary,
});
export type WorkerInfo = z.infer<typeof WorkerInfo>;

export interface StoreBasicInfo {
  Name: string;
  Path: string;
  Strict: boolean;
  ReadOnly: boolean;
  Weight: number;
  Meta: Record<string, string>;
}

/** Converts between the wire's 32-number arrays and bytes. */
export const bytesToArray = (b: Uint8Array): number[] => Array.from(b);
export const arrayToBytes = (a: readonly number[]): Uint8Array => Uint8Array.from(a);
