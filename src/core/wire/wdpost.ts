import { z } from 'zod';
import { BOUNDS, boundedArray, boundedString, nameString } from './bounds.js';

/**
 * The worker WindowPoSt job API (`Venus.WdPoSt*`), in damocles' shapes. Encodings are those of the sidecar's
 * `window_post` task, so a worker hands them to its processor unchanged: `CommR` and `Seed` are 32-byte values as
 * arrays of numbers, `ProofType` the proofs-API name (`StackedDrgWindow2KiBV1_2`), `SectorID` the sector number.
 * `Accesses` name persist stores, which each worker resolves in its own `[[attached]]` stores.
 */

const u64 = z.number().int().nonnegative();
const bytes32 = z.array(z.number().int().min(0).max(255)).length(32, 'expected 32 bytes');
/** More sectors than one deadline of a miner holds (the actor's limit is 2349 per partition, 3 partitions a proof). */
const MAX_SECTORS = 25_000;

export const WdPoStSector = z.strictObject({
  SectorID: u64,
  CommR: bytes32,
  /** The sector's replica is the updated one (`update/`, `update-cache/`) rather than the sealed one. */
  Upgrade: z.boolean(),
  Accesses: z.strictObject({ SealedFile: nameString, CacheDir: nameString }),
});
export type WdPoStSector = z.infer<typeof WdPoStSector>;

export const WdPoStInput = z.strictObject({
  /** The challenged sectors in the actor's order; a left-out sector appears as the first good one again. */
  Sectors: boundedArray(WdPoStSector, MAX_SECTORS).min(1, 'expected at least one sector'),
  MinerID: u64,
  ProofType: nameString,
  Seed: bytes32,
});
export type WdPoStInput = z.infer<typeof WdPoStInput>;

export const WdPoStOutput = z.strictObject({
  /** Base64, as the sidecar's `window_post` gives them: one proof, or none when every sector is faulty. */
  Proofs: boundedArray(boundedString(BOUNDS.proof).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'expected base64'), 16),
  /** Sector numbers the worker could not prove. */
  Faults: boundedArray(u64, MAX_SECTORS),
});
export type WdPoStOutput = z.infer<typeof WdPoStOutput>;

export const WdPoStAllocateSpec = z.object({
  AllowedMiners: boundedArray(u64).nullable().optional(),
  AllowedProofTypes: boundedArray(nameString).nullable().optional(),
});
export type WdPoStAllocateSpec = z.infer<typeof WdPoStAllocateSpec>;

/** The most jobs one WdPoStAllocateJobs call hands out: more than one worker takes at once (damocles' threads ask for one). */
export const MAX_JOBS_PER_CALL = 16;

/** The error code of a WdPoStFinishJob for a job the worker no longer holds: the worker drops the job. */
export const WDPOST_JOB_NOT_HELD = 11010;

/** A job id: the hex sha256 of its input's JSON. */
export const WdPoStJobId = z.string().regex(/^[0-9a-f]{64}$/, 'expected a job id (64 hex digits)');

export interface WdPoStJob {
  ID: string;
  Input: WdPoStInput;
}

export const WDPOST_JOB_STATES = ['ready2run', 'running', 'finished'] as const;
export type WdPoStJobState = (typeof WDPOST_JOB_STATES)[number];

/** One job as `util worker wdpost list` lists it. */
export interface WdPoStJobView {
  ID: string;
  Miner: number;
  ProofType: string;
  Sectors: number;
  State: WdPoStJobState;
  TryNum: number;
  Worker: string | null;
  CreatedAt: number;
  StartedAt: number | null;
  HeartbeatAt: number | null;
  FinishedAt: number | null;
  /** The worker's output had a proof. */
  Proven: boolean;
  Faults: number[];
  Error: string | null;
  /** When the manager gave up on workers and proved the deadline itself; null if it did not. */
  FallbackAt: number | null;
}
