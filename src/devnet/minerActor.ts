import { cidToCommitment, isCommitmentCid, unsealedSectorCommitment, zeroCommitment } from '../core/commitment.js';
import { acceptedForPreCommit, sealProofInfo, updateProofForSize } from '../core/proofTypes.js';
import type { SealPublicInputs, UpdatePublicInputs } from '../core/mockProof.js';
import { ExitCode } from '../chain/exitCodes.js';
import {
  decodeDeclareFaults,
  decodeDeclareFaultsRecovered,
  decodeExtendSectorExpiration2,
  decodePreCommitSectorBatch2,
  decodeProveCommitSectors3,
  decodeProveReplicaUpdates3,
  decodeSubmitWindowedPoSt,
  decodeTerminateSectors,
  encodeBatchReturn,
  encodeTerminateSectorsReturn,
  MinerMethod,
  toLotusPreCommitInfo,
  type BatchReturn,
  type PieceActivationManifest,
  type PreCommitSectorBatchParams2,
  type ProveCommitSectors3Params,
  type ProveReplicaUpdates3Params,
} from '../chain/minerParams.js';
import type { SectorOnChainInfo, SectorPreCommitInfo } from '../chain/types.js';
import type { PreCommitRow } from './store.js';
import { decodeParams, fail, requireCaller, SECTOR_MAXIMUM_LIFETIME, type ActorContext, type MinerCall, type MinerPolicy } from './actorRuntime.js';
import {
  declareFaults,
  declareFaultsRecovered,
  extendSectorExpiration2,
  placeNewSectors,
  submitWindowedPoSt,
  terminateSectors,
} from './provingActor.js';

/**
 * The miner actor's sealing methods, with the checks, their order and their exit codes taken from
 * builtin-actors v18 (`actors/miner/src/lib.rs`); the proving methods are in provingActor.ts. Where the
 * devnet simplifies (no market actor, no aggregation) the message fails with a message saying so rather
 * than pretending.
 */

/** builtin-actors policy constants the devnet does not make configurable. */
const MAX_SECTOR_NUMBER = 2 ** 63 - 1;
const PRE_COMMIT_BATCH_MAX = 256;
const MAX_REPLICA_UPDATE_PROOF_SIZE = 4096;

/** The devnet's precommit deposit and initial pledge: proportional to sector size (≈0.034 / 0.17 FIL per 32GiB). */
export const preCommitDeposit = (sectorSize: number): bigint => BigInt(sectorSize) * 1_000_000n;
export const initialPledge = (sectorSize: number): bigint => BigInt(sectorSize) * 5_000_000n;

/** Runs one miner method; returns the CBOR return value (or null) or throws ActorError. */
export function invokeMiner(ctx: ActorContext, call: MinerCall): Uint8Array | null {
  switch (call.method) {
    case MinerMethod.PreCommitSectorBatch2:
      preCommitBatch(ctx, call, decodeParams(() => decodePreCommitSectorBatch2(call.params)));
      return null;
    case MinerMethod.ProveCommitSectors3:
      return encodeBatchReturn(proveCommit(ctx, call, decodeParams(() => decodeProveCommitSectors3(call.params))));
    case MinerMethod.ProveReplicaUpdates3:
      return encodeBatchReturn(proveReplicaUpdates(ctx, call, decodeParams(() => decodeProveReplicaUpdates3(call.params))));
    case MinerMethod.SubmitWindowedPoSt:
      submitWindowedPoSt(ctx, call, decodeParams(() => decodeSubmitWindowedPoSt(call.params)));
      return null;
    case MinerMethod.DeclareFaults:
      declareFaults(ctx, call, decodeParams(() => decodeDeclareFaults(call.params)).faults);
      return null;
    case MinerMethod.DeclareFaultsRecovered:
      declareFaultsRecovered(ctx, call, decodeParams(() => decodeDeclareFaultsRecovered(call.params)).recoveries);
      return null;
    case MinerMethod.ExtendSectorExpiration2:
      extendSectorExpiration2(ctx, call, decodeParams(() => decodeExtendSectorExpiration2(call.params)));
      return null;
    case MinerMethod.TerminateSectors:
      return encodeTerminateSectorsReturn(terminateSectors(ctx, call, decodeParams(() => decodeTerminateSectors(call.params))));
    default:
      return fail(ExitCode.ErrUnhandledMessage, `invalid method: ${call.method}`);
  }
}

/** Locks `amount` of the miner's unlocked balance, or fails with insufficient funds. */
function lockFunds(ctx: ActorContext, minerId: number, amount: bigint, what: string): void {
  const row = ctx.store.miner(minerId) ?? fail(ExitCode.ErrIllegalState, `miner t0${minerId} has no state`);
  const available = row.balance - row.locked;
  if (available < amount) fail(ExitCode.ErrInsufficientFunds, `insufficient funds ${available} for ${what}: ${amount}`);
  ctx.store.putMiner({ ...row, locked: row.locked + amount });
}

function preCommitBatch(ctx: ActorContext, call: MinerCall, { sectors }: PreCommitSectorBatchParams2): void {
  const { epoch, policy, store } = ctx;
  const { miner } = call;
  if (sectors.length === 0) fail(ExitCode.ErrIllegalArgument, 'batch empty');
  if (sectors.length > PRE_COMMIT_BATCH_MAX) fail(ExitCode.ErrIllegalArgument, `batch of ${sectors.length} too large, max ${PRE_COMMIT_BATCH_MAX}`);
  const seen = new Set<number>();
  for (const s of sectors) {
    const n = s.sectorNumber;
    if (seen.has(n)) fail(ExitCode.ErrIllegalArgument, `duplicate sector number ${n}`);
    seen.add(n);
    if (!acceptedForPreCommit(s.sealProof)) fail(ExitCode.ErrIllegalArgument, `unsupported seal proof type ${s.sealProof}`);
    if (n > MAX_SECTOR_NUMBER) fail(ExitCode.ErrIllegalArgument, `sector number ${n} out of range 0..(2^63-1)`);
    if (!isCommitmentCid('sealed', s.sealedCid)) fail(ExitCode.ErrIllegalArgument, 'sealed CID had wrong prefix');
    if (s.sealRandEpoch >= epoch) fail(ExitCode.ErrIllegalArgument, `seal challenge epoch ${s.sealRandEpoch} must be before now ${epoch}`);
    const earliest = epoch - policy.maxPreCommitRandomnessLookback;
    if (s.sealRandEpoch < earliest) fail(ExitCode.ErrIllegalArgument, `seal challenge epoch ${s.sealRandEpoch} too old, must be after ${earliest}`);
    if (s.unsealedCid && !isCommitmentCid('unsealed', s.unsealedCid)) fail(ExitCode.ErrIllegalArgument, 'unsealed CID had wrong prefix');
    validateExpiration(policy, epoch, s.expiration);
    if (s.dealIds.length > 0) {
      fail(ExitCode.ErrIllegalArgument, `sector ${n} lists deal ids: the devnet has no market actor; activate pieces in ProveCommitSectors3 instead`);
    }
  }
  requireCaller(call);
  for (const s of sectors) {
    if (sealProofInfo(s.sealProof).sectorSize !== miner.sectorSize) {
      fail(ExitCode.ErrIllegalArgument, `sector seal proof ${s.sealProof} does not match the miner's ${miner.sectorSize}-byte sectors`);
    }
  }
  lockFunds(ctx, miner.id, preCommitDeposit(miner.sectorSize) * BigInt(sectors.length), 'pre-commit deposit');
  const taken = sectors.filter((s) => store.isAllocated(miner.id, s.sectorNumber, epoch)).map((s) => s.sectorNumber);
  if (taken.length > 0) fail(ExitCode.ErrIllegalArgument, `sector numbers ${taken.join(',')} already allocated`);
  for (const s of sectors) {
    store.allocate(miner.id, s.sectorNumber, epoch);
    store.insertPreCommit({ miner: miner.id, number: s.sectorNumber, info: JSON.stringify(toLotusPreCommitInfo(s)), deposit: preCommitDeposit(miner.sectorSize), epoch }, epoch);
  }
}

function validateExpiration(policy: MinerPolicy, epoch: number, expiration: number): void {
  const maxActivation = epoch + policy.maxProveCommitDuration;
  if (expiration <= maxActivation) fail(ExitCode.ErrIllegalArgument, `sector expiration ${expiration} must be after activation ${maxActivation}`);
  const lifetime = expiration - maxActivation;
  if (lifetime < policy.minSectorExpiration) {
    fail(ExitCode.ErrIllegalArgument, `invalid expiration ${expiration}, total sector lifetime (${lifetime}) must exceed ${policy.minSectorExpiration} after activation ${maxActivation}`);
  }
  if (expiration > epoch + policy.maxSectorExpirationExtension) {
    fail(ExitCode.ErrIllegalArgument, `invalid expiration ${expiration}, cannot be more than ${policy.maxSectorExpirationExtension} past current epoch ${epoch}`);
  }
  if (lifetime > SECTOR_MAXIMUM_LIFETIME) {
    fail(ExitCode.ErrIllegalArgument, `invalid expiration ${expiration}, total sector lifetime (${lifetime}) cannot exceed ${SECTOR_MAXIMUM_LIFETIME} after activation ${maxActivation}`);
  }
}

/** One item of a batch: proven, or skipped with the code it would abort the message with. */
type Outcome<T> = { ok: true; value: T } | { ok: false; code: number; message: string };
const skip = <T>(code: number, message: string): Outcome<T> => ({ ok: false, code, message });

/**
 * Soft failures skip the item and are listed in the BatchReturn; with `require_activation_success` the
 * first one aborts the whole message instead.
 */
function settle<T>(outcomes: Outcome<T>[], requireAll: boolean, what: string): T[] {
  outcomes.forEach((o, i) => {
    if (!o.ok && requireAll) fail(o.code, `invalid ${what} ${i} while requiring activation success: ${o.message}`);
  });
  return outcomes.flatMap((o) => (o.ok ? [o.value] : []));
}

function batchReturn(outcomes: Outcome<unknown>[]): BatchReturn {
  const failCodes = outcomes.flatMap((o, idx) => (o.ok ? [] : [{ idx, code: ExitCode.ErrIllegalArgument }]));
  return { successCount: outcomes.length - failCodes.length, failCodes };
}

function checkProofShape(p: { sectorProofs: Uint8Array[]; aggregateProof: Uint8Array; aggregateProofType: number | null }, count: number, kind: string): void {
  if ((p.sectorProofs.length > 0) === (p.aggregateProof.length > 0)) {
    fail(ExitCode.ErrIllegalArgument, 'exactly one of sector proofs or aggregate proof must be non-empty');
  }
  if (p.aggregateProof.length > 0) fail(ExitCode.ErrIllegalArgument, `aggregate ${kind} proofs are not supported by the devnet; send one proof per sector`);
  if (p.aggregateProofType !== null) fail(ExitCode.ErrIllegalArgument, 'aggregate proof type must be null with batched proofs');
  if (p.sectorProofs.length !== count) fail(ExitCode.ErrIllegalArgument, `mismatched lengths: ${count} ${kind}s, ${p.sectorProofs.length} proofs`);
}

/** CommD of the pieces a manifest activates (the zero commitment when there are none, i.e. CC). */
function piecesCommD(sectorSize: number, pieces: PieceActivationManifest[]): Uint8Array {
  try {
    return unsealedSectorCommitment(sectorSize, pieces.map((p) => ({ size: p.size, commitment: cidToCommitment('unsealed', p.cid) })));
  } catch (err) {
    return fail(ExitCode.ErrIllegalArgument, `failed to compute unsealed sector CID: ${(err as Error).message}`);
  }
}

function proveCommit(ctx: ActorContext, call: MinerCall, params: ProveCommitSectors3Params): BatchReturn {
  const { epoch, policy, store } = ctx;
  const { miner } = call;
  requireCaller(call);
  const pres = params.sectorActivations.map((a) => {
    const pre = store.preCommit(miner.id, a.sectorNumber, epoch);
    return pre ? { pre, info: JSON.parse(pre.info) as SectorPreCommitInfo } : fail(ExitCode.ErrNotFound, `loading precommits: sector ${a.sectorNumber} not found`);
  });
  if (pres.length === 0) fail(ExitCode.ErrIllegalArgument, 'no sectors to prove');
  checkProofShape(params, pres.length, 'sector activation');
  const maxProof = sealProofInfo((pres[0] as (typeof pres)[number]).info.SealProof).partitions * 192;
  for (const proof of params.sectorProofs) {
    if (proof.length > maxProof) fail(ExitCode.ErrIllegalArgument, `sector proof size ${proof.length} exceeds max ${maxProof}`);
  }
  const validated = pres.map(({ pre, info }, i): Outcome<{ pre: PreCommitRow; info: SectorPreCommitInfo; index: number }> => {
    const due = pre.epoch + policy.maxProveCommitDuration;
    if (epoch > due) return skip(ExitCode.ErrIllegalArgument, `commitment proof for sector ${pre.number} too late at ${epoch}, due ${due}`);
    return { ok: true, value: { pre, info, index: i } };
  });
  const valid = settle(validated, params.requireActivationSuccess, 'pre-commit');
  if (valid.some((v) => v.info.SealProof !== valid[0]?.info.SealProof)) {
    fail(ExitCode.ErrIllegalState, 'seal proof group for verification contains mismatched seal proofs');
  }
  for (const { pre } of valid) {
    if (epoch <= pre.epoch + policy.preCommitChallengeDelay) fail(ExitCode.ErrForbidden, 'too early to prove sector');
  }
  if (valid.length === 0) fail(ExitCode.ErrIllegalArgument, 'no valid precommits specified');
  const proofChecked = validated.map((v): Outcome<{ pre: PreCommitRow; info: SectorPreCommitInfo; index: number }> => {
    if (!v.ok) return v;
    const { pre, info, index } = v.value;
    const declared = info.UnsealedCid ? cidToCommitment('unsealed', info.UnsealedCid['/']) : zeroCommitment(miner.sectorSize);
    const inputs: SealPublicInputs = {
      miner: miner.id,
      number: pre.number,
      sealProof: info.SealProof,
      commR: cidToCommitment('sealed', info.SealedCID['/']),
      commD: declared,
      ticket: ctx.sealRandomness(miner.id, info.SealRandEpoch),
      seed: ctx.interactiveRandomness(miner.id, pre.epoch + policy.preCommitChallengeDelay),
    };
    if (!ctx.verify({ kind: 'seal', proof: params.sectorProofs[index] as Uint8Array, inputs })) {
      return skip(ExitCode.ErrIllegalArgument, `invalid proof for sector ${pre.number}`);
    }
    return v;
  });
  const proven = settle(proofChecked, params.requireActivationSuccess, 'proof');
  if (proven.length === 0) fail(ExitCode.ErrIllegalArgument, 'no valid proofs specified');
  for (const { pre, info, index } of proven) {
    const pieces = (params.sectorActivations[index] as ProveCommitSectors3Params['sectorActivations'][number]).pieces;
    const declared = info.UnsealedCid ? cidToCommitment('unsealed', info.UnsealedCid['/']) : zeroCommitment(miner.sectorSize);
    if (!Buffer.from(piecesCommD(miner.sectorSize, pieces)).equals(declared)) {
      fail(ExitCode.ErrIllegalArgument, `unsealed CID does not match pieces for sector ${pre.number}`);
    }
    if (info.Expiration - epoch < policy.minSectorExpiration) {
      fail(ExitCode.ErrIllegalArgument, `precommit ${pre.number} has lifetime ${info.Expiration - epoch} less than minimum ${policy.minSectorExpiration}. ignoring`);
    }
  }
  // Activation releases the pre-commit deposits, then locks the initial pledge.
  const state = store.miner(miner.id);
  if (state) store.putMiner({ ...state, locked: state.locked - proven.reduce((sum, p) => sum + p.pre.deposit, 0n) });
  lockFunds(ctx, miner.id, initialPledge(miner.sectorSize) * BigInt(proven.length), 'aggregate initial pledge requirement');
  for (const { pre, info, index } of proven) {
    const pieces = (params.sectorActivations[index] as ProveCommitSectors3Params['sectorActivations'][number]).pieces;
    store.endPreCommit(miner.id, pre.number, epoch);
    const sector: SectorOnChainInfo = {
      SectorNumber: pre.number,
      SealProof: info.SealProof,
      SealedCID: info.SealedCID,
      DealIDs: null,
      Activation: epoch,
      Expiration: info.Expiration,
      DealWeight: dealWeight(pieces, info.Expiration - epoch, false),
      VerifiedDealWeight: dealWeight(pieces, info.Expiration - epoch, true),
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
  placeNewSectors(ctx, miner, proven.map((p) => p.pre.number));
  return batchReturn(proofChecked);
}

/** Space × time of the pieces (verified ones, or the rest), as the actor weighs sector data. */
function dealWeight(pieces: PieceActivationManifest[], duration: number, verified: boolean): string {
  const bytes = pieces.filter((p) => (p.verifiedAllocationKey !== null) === verified).reduce((sum, p) => sum + BigInt(p.size), 0n);
  return (bytes * BigInt(Math.max(duration, 0))).toString();
}

function proveReplicaUpdates(ctx: ActorContext, call: MinerCall, params: ProveReplicaUpdates3Params): BatchReturn {
  const { epoch, store } = ctx;
  const { miner } = call;
  requireCaller(call);
  if ((params.sectorProofs.length > 0) === (params.aggregateProof.length > 0)) {
    fail(ExitCode.ErrIllegalArgument, 'exactly one of sector proofs or aggregate proof must be non-empty');
  }
  const sectors = params.sectorUpdates.map((u) => {
    const row = store.sector(miner.id, u.sector, epoch) ?? fail(ExitCode.ErrNotFound, `sector ${u.sector} not found`);
    return JSON.parse(row.info) as SectorOnChainInfo;
  });
  const expectedType = updateProofForSize(miner.sectorSize);
  const seen = new Set<number>();
  const validated = params.sectorUpdates.map((u, i): Outcome<number> => {
    const info = sectors[i] as SectorOnChainInfo;
    if (seen.has(u.sector)) return skip(ExitCode.ErrIllegalArgument, `skipping duplicate sector ${u.sector}`);
    seen.add(u.sector);
    const proof = params.sectorProofs[i];
    if (proof && proof.length > MAX_REPLICA_UPDATE_PROOF_SIZE) return skip(ExitCode.ErrIllegalArgument, `update proof is too large (${proof.length}), skipping sector ${u.sector}`);
    if (u.deadline >= ctx.proving.periodDeadlines) {
      return skip(ExitCode.ErrIllegalArgument, `deadline ${u.deadline} not in range 0..${ctx.proving.periodDeadlines}, skipping sector ${u.sector}`);
    }
    if (!isCommitmentCid('sealed', u.newSealedCid)) return skip(ExitCode.ErrIllegalArgument, `new sealed CID had wrong prefix ${u.newSealedCid.toString()}, skipping sector ${u.sector}`);
    const where = store.proving(miner.id, u.sector);
    if (!where || where.deadline !== u.deadline || where.partition !== u.partition) {
      return skip(ExitCode.ErrNotFound, `sector ${u.sector} not a member of partition ${u.partition}, deadline ${u.deadline}`);
    }
    if (BigInt(info.DealWeight) + BigInt(info.VerifiedDealWeight) !== 0n) return skip(ExitCode.ErrIllegalArgument, `cannot update sector with non-zero data, skipping sector ${u.sector}`);
    if (params.updateProofsType !== expectedType) return skip(ExitCode.ErrIllegalArgument, `expected proof type ${expectedType}, was ${params.updateProofsType}`);
    return { ok: true, value: i };
  });
  if (params.sectorUpdates.length !== params.sectorProofs.length) {
    fail(ExitCode.ErrIllegalArgument, `mismatched lengths: ${params.sectorUpdates.length} sector updates, ${params.sectorProofs.length} proofs`);
  }
  if (params.aggregateProof.length > 0) fail(ExitCode.ErrIllegalArgument, 'aggregate update proofs not yet supported');
  settle(validated, params.requireActivationSuccess, 'update');
  const proofChecked = validated.map((v): Outcome<{ index: number; newCommD: Uint8Array }> => {
    if (!v.ok) return v;
    const u = params.sectorUpdates[v.value] as ProveReplicaUpdates3Params['sectorUpdates'][number];
    const info = sectors[v.value] as SectorOnChainInfo;
    const newCommD = piecesCommD(miner.sectorSize, u.pieces);
    const inputs: UpdatePublicInputs = {
      miner: miner.id,
      number: u.sector,
      updateProof: params.updateProofsType,
      oldCommR: cidToCommitment('sealed', info.SealedCID['/']),
      newCommR: cidToCommitment('sealed', u.newSealedCid),
      newCommD,
    };
    if (!ctx.verify({ kind: 'update', proof: params.sectorProofs[v.value] as Uint8Array, inputs })) {
      return skip(ExitCode.ErrIllegalArgument, `invalid proof for sector ${u.sector}`);
    }
    return { ok: true, value: { index: v.value, newCommD } };
  });
  const proven = settle(proofChecked, params.requireActivationSuccess, 'update');
  if (proven.length === 0) fail(ExitCode.ErrIllegalArgument, 'no valid updates');
  for (const { index } of proven) {
    const u = params.sectorUpdates[index] as ProveReplicaUpdates3Params['sectorUpdates'][number];
    const info = sectors[index] as SectorOnChainInfo;
    const updated: SectorOnChainInfo = {
      ...info,
      SealedCID: { '/': u.newSealedCid.toString() },
      SectorKeyCID: info.SectorKeyCID ?? info.SealedCID,
      PowerBaseEpoch: epoch,
      DealWeight: dealWeight(u.pieces, info.Expiration - epoch, false),
      VerifiedDealWeight: dealWeight(u.pieces, info.Expiration - epoch, true),
    };
    store.putSector({ miner: miner.id, number: u.sector, info: JSON.stringify(updated) }, epoch);
  }
  return batchReturn(proofChecked);
}
