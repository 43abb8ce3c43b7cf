import type { CID } from 'multiformats/cid';
import { cidToCommitment, unsealedSectorCommitment, zeroCommitment } from '../core/commitment.js';
import { acceptedForPreCommit, sealProofForSize, sealProofInfo, updateProofForSize } from '../core/proofTypes.js';
import type { SealPublicInputs, UpdatePublicInputs } from '../core/mockProof.js';
import { ExitCode } from '../chain/exitCodes.js';
import {
  decodePreCommitSectorBatch2,
  decodeProveCommitSectors3,
  decodeProveReplicaUpdates3,
  encodeBatchReturn,
  MinerMethod,
  type PieceActivationManifest,
} from '../chain/minerParams.js';
import type { SectorOnChainInfo, SectorPreCommitInfo } from '../chain/types.js';
import type { DevnetStore } from './store.js';
import type { DevnetMiner } from './config.js';

/** A message the actor refused; the exit code is the one builtin-actors uses for the same check. */
export class ActorError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

const fail = (code: number, message: string): never => {
  throw new ActorError(code, message);
};

export interface MinerPolicy {
  preCommitChallengeDelay: number;
  maxPreCommitRandomnessLookback: number;
  maxProveCommitDuration: number;
  minSectorExpiration: number;
  maxSectorExpirationExtension: number;
}

export type VerifyRequest =
  | { kind: 'seal'; proof: Uint8Array; inputs: SealPublicInputs }
  | { kind: 'update'; proof: Uint8Array; inputs: UpdatePublicInputs };

export interface ActorContext {
  store: DevnetStore;
  policy: MinerPolicy;
  epoch: number;
  /** Chain randomness as the actor draws it: ticket (DST 5) and interactive seed (DST 6) for this miner. */
  sealRandomness(miner: number, epoch: number): Uint8Array;
  interactiveRandomness(miner: number, epoch: number): Uint8Array;
  /** Whether the proof verifies; answers come from the verifier, run ahead of execution. */
  verify(request: VerifyRequest): boolean;
}

export interface MinerCall {
  miner: DevnetMiner;
  caller: number;
  method: number;
  params: Uint8Array;
}

/** The devnet's precommit deposit and initial pledge: proportional to sector size (≈0.034 / 0.17 FIL per 32GiB). */
export const preCommitDeposit = (sectorSize: number): bigint => BigInt(sectorSize) * 1_000_000n;
export const initialPledge = (sectorSize: number): bigint => BigInt(sectorSize) * 5_000_000n;

const MAX_SECTOR_NUMBER = 2 ** 63 - 1;
const PRE_COMMIT_BATCH_MAX = 256;

/** Runs one miner method; returns the CBOR return value (or null) or throws ActorError. */
export function invokeMiner(ctx: ActorContext, call: MinerCall): Uint8Array | null {
  const { miner } = call;
  const allowed = [miner.worker, ...miner.control];
  switch (call.method) {
    case MinerMethod.PreCommitSectorBatch2:
      requireCaller(call.caller, allowed);
      preCommitBatch(ctx, miner, decode(() => decodePreCommitSectorBatch2(call.params)));
      return null;
    case MinerMethod.ProveCommitSectors3:
      requireCaller(call.caller, allowed);
      return proveCommit(ctx, miner, decode(() => decodeProveCommitSectors3(call.params)));
    case MinerMethod.ProveReplicaUpdates3:
      requireCaller(call.caller, allowed);
      return proveReplicaUpdates(ctx, miner, decode(() => decodeProveReplicaUpdates3(call.params)));
    default:
      return fail(ExitCode.ErrUnhandledMessage, `miner actor has no method ${call.method} on the devnet`);
  }
}

function decode<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return fail(ExitCode.ErrSerialization, `failed to decode params: ${(err as Error).message}`);
  }
}

function requireCaller(caller: number, allowed: number[]): void {
  if (!allowed.includes(caller)) {
    fail(ExitCode.ErrForbidden, `caller t0${caller} is not one of the miner's worker or control addresses`);
  }
}

function spendFromMiner(ctx: ActorContext, minerId: number, amount: bigint, what: string): void {
  const row = ctx.store.miner(minerId);
  if (!row) return fail(ExitCode.ErrIllegalState, `miner t0${minerId} has no state`);
  const available = row.balance - row.locked;
  if (available < amount) {
    fail(ExitCode.ErrInsufficientFunds, `insufficient funds ${available} for ${what} ${amount}`);
  }
  ctx.store.putMiner({ ...row, locked: row.locked + amount });
}

function preCommitBatch(ctx: ActorContext, miner: DevnetMiner, params: ReturnType<typeof decodePreCommitSectorBatch2>): void {
  const { sectors } = params;
  const { epoch, policy } = ctx;
  if (sectors.length === 0) fail(ExitCode.ErrIllegalArgument, 'batch empty');
  if (sectors.length > PRE_COMMIT_BATCH_MAX) {
    fail(ExitCode.ErrIllegalArgument, `batch of ${sectors.length} too large, max ${PRE_COMMIT_BATCH_MAX}`);
  }
  const expected = sealProofForSize(miner.sectorSize);
  const seen = new Set<number>();
  for (const s of sectors) {
    const n = s.sectorNumber;
    if (!acceptedForPreCommit(s.sealProof)) fail(ExitCode.ErrIllegalArgument, `unsupported seal proof type ${s.sealProof}`);
    if (sealProofInfo(s.sealProof).sectorSize !== miner.sectorSize) {
      fail(ExitCode.ErrIllegalArgument, `sector seal proof ${s.sealProof} must match miner seal proof type ${expected.id}`);
    }
    if (n > MAX_SECTOR_NUMBER) fail(ExitCode.ErrIllegalArgument, `sector number ${n} out of range 0..(2^63-1)`);
    checkCid('sealed', s.sealedCid, `sealed CID of sector ${n}`);
    if (s.unsealedCid) checkCid('unsealed', s.unsealedCid, `unsealed CID of sector ${n}`);
    if (s.sealRandEpoch >= epoch) {
      fail(ExitCode.ErrIllegalArgument, `seal challenge epoch ${s.sealRandEpoch} must be before now ${epoch}`);
    }
    const earliest = epoch - policy.maxPreCommitRandomnessLookback;
    if (s.sealRandEpoch < earliest) {
      fail(ExitCode.ErrIllegalArgument, `seal challenge epoch ${s.sealRandEpoch} too old, must be after ${earliest}`);
    }
    const activation = epoch + policy.preCommitChallengeDelay;
    if (s.expiration - activation < policy.minSectorExpiration) {
      fail(ExitCode.ErrIllegalArgument, `invalid expiration ${s.expiration}, total sector lifetime (${s.expiration - activation}) must exceed ${policy.minSectorExpiration} after activation ${activation}`);
    }
    if (s.expiration > epoch + policy.maxSectorExpirationExtension) {
      fail(ExitCode.ErrIllegalArgument, `invalid expiration ${s.expiration}, cannot be more than ${policy.maxSectorExpirationExtension} past current epoch ${epoch}`);
    }
    if (seen.has(n) || ctx.store.isAllocated(miner.id, n, epoch)) {
      fail(ExitCode.ErrIllegalArgument, `sector number ${n} already allocated`);
    }
    seen.add(n);
  }
  spendFromMiner(ctx, miner.id, preCommitDeposit(miner.sectorSize) * BigInt(sectors.length), 'pre-commit deposit');
  for (const s of sectors) {
    ctx.store.allocate(miner.id, s.sectorNumber, epoch);
    const info: SectorPreCommitInfo = {
      SealProof: s.sealProof,
      SectorNumber: s.sectorNumber,
      SealedCID: { '/': s.sealedCid.toString() },
      SealRandEpoch: s.sealRandEpoch,
      DealIDs: s.dealIds,
      Expiration: s.expiration,
      UnsealedCid: s.unsealedCid ? { '/': s.unsealedCid.toString() } : null,
    };
    ctx.store.insertPreCommit(
      { miner: miner.id, number: s.sectorNumber, info: JSON.stringify(info), deposit: preCommitDeposit(miner.sectorSize), epoch },
      epoch,
    );
  }
}

function checkCid(kind: 'sealed' | 'unsealed', cid: CID, what: string): void {
  try {
    cidToCommitment(kind, cid);
  } catch (err) {
    fail(ExitCode.ErrIllegalArgument, `${what} invalid: ${(err as Error).message}`);
  }
}

/** CommD of the pieces a manifest activates (the zero commitment when there are none, i.e. CC). */
function piecesCommD(sectorSize: number, pieces: PieceActivationManifest[]): Uint8Array {
  return unsealedSectorCommitment(
    sectorSize,
    pieces.map((p) => ({ size: p.size, commitment: cidToCommitment('unsealed', p.cid) })),
  );
}

/**
 * Per-sector outcome of a batch. With `require_activation_success` any failure fails the whole message;
 * otherwise failed sectors are skipped and reported in the BatchReturn, and the message fails only when
 * nothing succeeded.
 */
function finishBatch(
  results: { code: number; message: string }[],
  requireAll: boolean,
  what: string,
): { successCount: number; failCodes: { idx: number; code: number }[] } {
  const failCodes = results.flatMap((r, idx) => (r.code === ExitCode.Ok ? [] : [{ idx, code: r.code }]));
  const firstFailure = results.find((r) => r.code !== ExitCode.Ok);
  if (firstFailure && (requireAll || failCodes.length === results.length)) {
    fail(firstFailure.code, `${what}: ${firstFailure.message}`);
  }
  return { successCount: results.length - failCodes.length, failCodes };
}

function proveCommit(ctx: ActorContext, miner: DevnetMiner, params: ReturnType<typeof decodeProveCommitSectors3>): Uint8Array {
  const { epoch, policy, store } = ctx;
  const n = params.sectorActivations.length;
  if (n === 0) fail(ExitCode.ErrIllegalArgument, 'no sectors to prove');
  if (params.aggregateProof.length > 0) {
    fail(ExitCode.ErrIllegalArgument, 'aggregate proofs are not supported by the devnet; send one proof per sector');
  }
  if (params.sectorProofs.length !== n) {
    fail(ExitCode.ErrIllegalArgument, `mismatched proof count: ${params.sectorProofs.length} proofs for ${n} sectors`);
  }
  const results = params.sectorActivations.map((activation, i) => {
    const number = activation.sectorNumber;
    const pre = store.preCommit(miner.id, number, epoch);
    if (!pre) return { code: ExitCode.ErrNotFound, message: `no pre-commit for sector ${number}` };
    const info = JSON.parse(pre.info) as SectorPreCommitInfo;
    const interactiveEpoch = pre.epoch + policy.preCommitChallengeDelay;
    if (epoch <= interactiveEpoch) {
      return { code: ExitCode.ErrForbidden, message: `too early to prove sector ${number}: seed epoch ${interactiveEpoch} not yet passed (now ${epoch})` };
    }
    const deadline = pre.epoch + policy.maxProveCommitDuration;
    if (epoch > deadline) {
      return { code: ExitCode.ErrForbidden, message: `commitment proof for sector ${number} too late at ${epoch}, due ${deadline}` };
    }
    const commD = piecesCommD(miner.sectorSize, activation.pieces);
    const declared = info.UnsealedCid ? cidToCommitment('unsealed', info.UnsealedCid['/']) : zeroCommitment(miner.sectorSize);
    if (!Buffer.from(commD).equals(Buffer.from(declared))) {
      return { code: ExitCode.ErrIllegalArgument, message: `unsealed CID of sector ${number} does not match the activated pieces` };
    }
    const inputs: SealPublicInputs = {
      miner: miner.id,
      number,
      sealProof: info.SealProof,
      commR: cidToCommitment('sealed', info.SealedCID['/']),
      commD,
      ticket: ctx.sealRandomness(miner.id, info.SealRandEpoch),
      seed: ctx.interactiveRandomness(miner.id, interactiveEpoch),
    };
    if (!ctx.verify({ kind: 'seal', proof: params.sectorProofs[i] as Uint8Array, inputs })) {
      return { code: ExitCode.ErrIllegalArgument, message: `invalid seal proof for sector ${number}` };
    }
    return { code: ExitCode.Ok, message: '', pre, info };
  });
  const batch = finishBatch(results, params.requireActivationSuccess, 'prove commit failed');
  const proven = results.filter((r): r is typeof r & { pre: NonNullable<ReturnType<DevnetStore['preCommit']>>; info: SectorPreCommitInfo } => 'pre' in r);
  spendFromMiner(ctx, miner.id, initialPledge(miner.sectorSize) * BigInt(proven.length), 'initial pledge');
  for (const { pre, info } of proven) {
    const row = store.miner(miner.id);
    if (row) store.putMiner({ ...row, locked: row.locked - pre.deposit });
    store.endPreCommit(miner.id, pre.number, epoch);
    const sector: SectorOnChainInfo = {
      SectorNumber: pre.number,
      SealProof: info.SealProof,
      SealedCID: info.SealedCID,
      DealIDs: info.DealIDs,
      Activation: epoch,
      Expiration: info.Expiration,
      DealWeight: '0',
      VerifiedDealWeight: '0',
      InitialPledge: initialPledge(miner.sectorSize).toString(),
      ExpectedDayReward: '0',
      ExpectedStoragePledge: '0',
      PowerBaseEpoch: epoch,
      ReplacedDayReward: '0',
      SectorKeyCID: null,
      Flags: 0,
      DailyFee: '0',
    };
    store.putSector({ miner: miner.id, number: pre.number, info: JSON.stringify(sector) }, epoch);
  }
  return encodeBatchReturn(batch);
}

/** Where the devnet places a sector: 48 deadlines, one partition each (deterministic from the number). */
export function sectorLocation(number: number): { Deadline: number; Partition: number } {
  return { Deadline: number % 48, Partition: 0 };
}

function proveReplicaUpdates(ctx: ActorContext, miner: DevnetMiner, params: ReturnType<typeof decodeProveReplicaUpdates3>): Uint8Array {
  const { epoch, store } = ctx;
  const n = params.sectorUpdates.length;
  if (n === 0) fail(ExitCode.ErrIllegalArgument, 'no sector updates');
  if (params.aggregateProof.length > 0) {
    fail(ExitCode.ErrIllegalArgument, 'aggregate proofs are not supported by the devnet; send one proof per sector');
  }
  if (params.sectorProofs.length !== n) {
    fail(ExitCode.ErrIllegalArgument, `mismatched proof count: ${params.sectorProofs.length} proofs for ${n} updates`);
  }
  const updateProof = updateProofForSize(miner.sectorSize);
  if (params.updateProofsType !== updateProof) {
    fail(ExitCode.ErrIllegalArgument, `update proof type ${params.updateProofsType} does not match the miner's sectors (expected ${updateProof})`);
  }
  const results = params.sectorUpdates.map((u, i): { code: number; message: string; updated?: SectorOnChainInfo } => {
    const row = store.sector(miner.id, u.sector, epoch);
    if (!row) return { code: ExitCode.ErrNotFound, message: `sector ${u.sector} is not an active sector` };
    const info = JSON.parse(row.info) as SectorOnChainInfo;
    if (info.SectorKeyCID !== null) {
      return { code: ExitCode.ErrIllegalArgument, message: `sector ${u.sector} was already updated (has a sector key)` };
    }
    const where = sectorLocation(u.sector);
    if (where.Deadline !== u.deadline || where.Partition !== u.partition) {
      return { code: ExitCode.ErrNotFound, message: `sector ${u.sector} is in deadline ${where.Deadline} partition ${where.Partition}, not ${u.deadline}/${u.partition}` };
    }
    if (u.pieces.length === 0) return { code: ExitCode.ErrIllegalArgument, message: `update of sector ${u.sector} carries no pieces` };
    checkCid('sealed', u.newSealedCid, `new sealed CID of sector ${u.sector}`);
    const newCommD = piecesCommD(miner.sectorSize, u.pieces);
    const inputs: UpdatePublicInputs = {
      miner: miner.id,
      number: u.sector,
      updateProof,
      oldCommR: cidToCommitment('sealed', info.SealedCID['/']),
      newCommR: cidToCommitment('sealed', u.newSealedCid),
      newCommD,
    };
    if (!ctx.verify({ kind: 'update', proof: params.sectorProofs[i] as Uint8Array, inputs })) {
      return { code: ExitCode.ErrIllegalArgument, message: `invalid replica update proof for sector ${u.sector}` };
    }
    const updated: SectorOnChainInfo = {
      ...info,
      SealedCID: { '/': u.newSealedCid.toString() },
      SectorKeyCID: info.SealedCID,
      PowerBaseEpoch: epoch,
    };
    return { code: ExitCode.Ok, message: '', updated };
  });
  const batch = finishBatch(results, params.requireActivationSuccess, 'prove replica updates failed');
  for (const r of results) {
    if (r.updated) store.putSector({ miner: miner.id, number: r.updated.SectorNumber, info: JSON.stringify(r.updated) }, epoch);
  }
  return encodeBatchReturn(batch);
}

