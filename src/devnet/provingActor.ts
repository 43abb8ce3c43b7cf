import { cidToCommitment } from '../core/commitment.js';
import { sealProofForSize } from '../core/proofTypes.js';
import { ExitCode } from '../chain/exitCodes.js';
import type {
  ExtendSectorExpiration2Params,
  PartitionSectors,
  SubmitWindowedPoStParams,
  TerminateSectorsParams,
  TerminateSectorsReturn,
} from '../chain/minerParams.js';
import type { SectorOnChainInfo } from '../chain/types.js';
import { fail, requireCaller, SECTOR_MAXIMUM_LIFETIME, type ActorContext, type MinerCall } from './actorRuntime.js';
import type { DevnetMiner } from './config.js';
import { assignSectors, currentDeadline, isMutable, nextNotElapsed, type Deadline } from './proving.js';
import type { ProvingRow } from './store.js';

/**
 * The miner actor's proving methods and its deadline cron, with the checks, their order and their exit
 * codes of builtin-actors v18 (`actors/miner/src/lib.rs`, `deadline_state.rs`, `partition_state.rs`).
 *
 * Simplified, and said so in the README: every Window PoSt is verified when submitted (the actor verifies
 * only those that recover power and accepts the rest optimistically, open to disputes); new sectors count
 * as proven from activation; no fees or penalties; faults never age into terminations; partitions are never
 * compacted; proving state (partitions, faults) is current-only, not readable at past tipsets.
 */

/** builtin-actors policy: RegisteredPoStProof proof size, declaration and addressing limits. */
const POST_PROOF_BYTES = 192;
const DECLARATIONS_MAX = 3000;
const ADDRESSED_SECTORS_MAX = 25_000;
const ADDRESSED_PARTITIONS_MAX = 3000;
const RANDOMNESS_LENGTH = 32;
const WINDOW_POST_PROOFS = new Set([10, 11, 12, 13, 14]);

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function partitionOf(ctx: ActorContext, miner: number, deadline: number, partition: number): ProvingRow[] {
  return ctx.store.deadlineSectors(miner, deadline).filter((s) => s.partition === partition);
}

function sectorInfo(ctx: ActorContext, miner: number, number: number): SectorOnChainInfo | undefined {
  const row = ctx.store.sector(miner, number, ctx.epoch);
  return row ? (JSON.parse(row.info) as SectorOnChainInfo) : undefined;
}

/** Places activated sectors in mutable deadlines and partitions (the actor's `assign_sectors_to_deadlines`). */
export function placeNewSectors(ctx: ActorContext, miner: DevnetMiner, numbers: number[]): void {
  if (numbers.length === 0) return;
  const offset = ctx.provingOffset(miner.id);
  const placed = ctx.store.provingSectors(miner.id);
  const loads = Array.from({ length: ctx.proving.periodDeadlines }, (_, index) => index)
    .filter((index) => isMutable(ctx.proving, offset, index, ctx.epoch))
    .map((index) => {
      const inDeadline = placed.filter((p) => p.deadline === index);
      return { index, total: inDeadline.length, live: inDeadline.filter((p) => !p.terminated).length };
    });
  if (loads.length === 0) fail(ExitCode.ErrIllegalState, `no mutable deadline at epoch ${ctx.epoch} to assign sectors to`);
  for (const a of assignSectors(loads, numbers, miner.partitionSectors)) {
    ctx.store.putProving({ miner: miner.id, number: a.number, deadline: a.deadline, partition: a.partition, faulty: false, recovering: false, terminated: false });
  }
}

export function submitWindowedPoSt(ctx: ActorContext, call: MinerCall, p: SubmitWindowedPoStParams): void {
  const { miner } = call;
  const { epoch, proving, store } = ctx;
  if (p.proofs.length !== 1) fail(ExitCode.ErrIllegalArgument, `expected exactly one proof, got ${p.proofs.length}`);
  const proof = p.proofs[0] as SubmitWindowedPoStParams['proofs'][number];
  if (!WINDOW_POST_PROOFS.has(proof.postProof)) fail(ExitCode.ErrIllegalArgument, `proof type ${proof.postProof} not allowed`);
  if (p.deadline >= proving.periodDeadlines) fail(ExitCode.ErrIllegalArgument, `invalid deadline ${p.deadline} of ${proving.periodDeadlines}`);
  if (p.chainCommitRand.length > RANDOMNESS_LENGTH) {
    fail(ExitCode.ErrIllegalArgument, `expected at most ${RANDOMNESS_LENGTH} bytes of randomness, got ${p.chainCommitRand.length}`);
  }
  requireCaller(call);
  const expectedType = sealProofForSize(miner.sectorSize).windowPoStProof;
  if (proof.postProof !== expectedType) fail(ExitCode.ErrIllegalArgument, `expected proof of type ${expectedType}, got ${proof.postProof}`);
  const maxSize = POST_PROOF_BYTES * p.partitions.length;
  if (proof.proofBytes.length > maxSize) fail(ExitCode.ErrIllegalArgument, `expected proof to be smaller than ${maxSize} bytes`);
  const partitionLimit = Math.min(Math.floor(ADDRESSED_SECTORS_MAX / miner.partitionSectors), ADDRESSED_PARTITIONS_MAX);
  if (p.partitions.length > partitionLimit) fail(ExitCode.ErrIllegalArgument, `too many partitions ${p.partitions.length}, limit ${partitionLimit}`);
  const current = currentDeadline(proving, ctx.provingOffset(miner.id), epoch);
  if (p.deadline !== current.index) fail(ExitCode.ErrIllegalArgument, `invalid deadline ${p.deadline} at epoch ${epoch}, expected ${current.index}`);
  if (p.chainCommitEpoch < current.challenge) {
    fail(ExitCode.ErrIllegalArgument, `expected chain commit epoch ${p.chainCommitEpoch} to be after ${current.challenge}`);
  }
  if (p.chainCommitEpoch >= epoch) fail(ExitCode.ErrIllegalArgument, `chain commit epoch ${p.chainCommitEpoch} must be less than the current epoch ${epoch}`);
  if (!equalBytes(ctx.chainCommitRandomness(p.chainCommitEpoch), p.chainCommitRand)) fail(ExitCode.ErrIllegalArgument, 'post commit randomness mismatched');

  // The deadline's record of what is proven; a partition proven already in this deadline is passed over.
  const posted = new Set(store.postedPartitions(miner.id, current.open));
  const all: ProvingRow[] = [];
  for (const post of p.partitions) {
    if (posted.has(post.index)) continue;
    const sectors = partitionOf(ctx, miner.id, p.deadline, post.index);
    if (sectors.length === 0) fail(ExitCode.ErrNotFound, `no such partition ${post.index}`);
    const members = new Set(sectors.map((s) => s.number));
    if (post.skipped.some((n) => !members.has(n))) fail(ExitCode.ErrIllegalArgument, 'skipped faults contains sectors outside partition');
    const skipped = new Set(post.skipped);
    for (const s of sectors) {
      if (s.terminated) continue;
      // Skipped sectors become faults (a skipped recovery is retracted); the others' recoveries are taken as proven.
      const updated = skipped.has(s.number) ? { ...s, faulty: true, recovering: false } : s.recovering ? { ...s, faulty: false, recovering: false } : s;
      if (updated !== s) store.putProving(updated);
      all.push(updated);
    }
    all.push(...sectors.filter((s) => s.terminated));
    store.recordPost(miner.id, current.open, post.index);
    posted.add(post.index);
  }
  all.sort((a, b) => a.number - b.number);
  const proven = all.filter((s) => !s.faulty && !s.terminated);
  if (proven.length === 0) fail(ExitCode.ErrIllegalArgument, 'cannot prove partitions with no active sectors');
  // The actor's `load_for_proof`: every sector of the partitions, a faulty or terminated one replaced by the first good one.
  const good = proven[0] as ProvingRow;
  const challenged = all.map((s) => {
    const source = s.faulty || s.terminated ? good : s;
    const info = sectorInfo(ctx, miner.id, source.number) ?? fail(ExitCode.ErrIllegalState, `sector ${source.number} has no on-chain info`);
    return { number: source.number, commR: cidToCommitment('sealed', info.SealedCID['/']) };
  });
  const inputs = { miner: miner.id, postProof: proof.postProof, randomness: ctx.windowPoStRandomness(miner.id, current.challenge), sectors: challenged };
  if (!ctx.verify({ kind: 'window_post', proof: proof.proofBytes, inputs })) fail(ExitCode.ErrIllegalArgument, 'window post failed: invalid proof');
}

/** Groups declarations by deadline as the actor's `DeadlineSectorMap` does, checking each deadline index. */
function byDeadline(ctx: ActorContext, decls: PartitionSectors[]): Map<number, PartitionSectors[]> {
  const out = new Map<number, PartitionSectors[]>();
  let sectors = 0;
  for (const d of decls) {
    if (d.deadline >= ctx.proving.periodDeadlines) {
      fail(ExitCode.ErrIllegalArgument, `failed to process deadline ${d.deadline}, partition ${d.partition}: invalid deadline ${d.deadline}`);
    }
    sectors += d.sectors.length;
    out.set(d.deadline, [...(out.get(d.deadline) ?? []), d]);
  }
  if (decls.length > ADDRESSED_PARTITIONS_MAX || sectors > ADDRESSED_SECTORS_MAX) {
    fail(ExitCode.ErrIllegalArgument, `cannot process requested parameters: too many partitions (${decls.length}) or sectors (${sectors})`);
  }
  return new Map([...out.entries()].sort(([a], [b]) => a - b));
}

/** A fault or recovery declared for a deadline must come before the deadline's fault cutoff. */
function checkDeclarationDeadline(ctx: ActorContext, miner: number, index: number, what: string): Deadline {
  const target = nextNotElapsed(ctx.proving, ctx.provingOffset(miner), index, ctx.epoch);
  if (ctx.epoch >= target.faultCutoff) {
    fail(ExitCode.ErrIllegalArgument, `failed ${what} declaration at deadline ${index}: late fault or recovery declaration at ${ctx.epoch} (cutoff ${target.faultCutoff})`);
  }
  return target;
}

function declaredPartition(ctx: ActorContext, miner: number, d: PartitionSectors, what: string): ProvingRow[] {
  const sectors = partitionOf(ctx, miner, d.deadline, d.partition);
  if (sectors.length === 0) fail(ExitCode.ErrNotFound, `no such partition ${d.partition}`);
  const members = new Set(sectors.map((s) => s.number));
  if (d.sectors.some((n) => !members.has(n))) fail(ExitCode.ErrIllegalArgument, `failed ${what} declaration: not all sectors are assigned to the partition`);
  const declared = new Set(d.sectors);
  return sectors.filter((s) => declared.has(s.number));
}

/**
 * Faults and recoveries walk the same way (count limit, caller, each deadline's cutoff, each partition's
 * members) and differ only in what they do to a declared sector: `change` returns its new row, or null to
 * leave it as it is.
 */
function applyDeclarations(ctx: ActorContext, call: MinerCall, decls: PartitionSectors[], what: 'fault' | 'recovery', change: (s: ProvingRow) => ProvingRow | null): void {
  if (decls.length > DECLARATIONS_MAX) fail(ExitCode.ErrIllegalArgument, `too many ${what} declarations for a single message: ${decls.length} > ${DECLARATIONS_MAX}`);
  const grouped = byDeadline(ctx, decls);
  requireCaller(call);
  for (const [index, inDeadline] of grouped) {
    checkDeclarationDeadline(ctx, call.miner.id, index, what);
    for (const d of inDeadline) {
      for (const s of declaredPartition(ctx, call.miner.id, d, what)) {
        const changed = change(s);
        if (changed) ctx.store.putProving(changed);
      }
    }
  }
}

export function declareFaults(ctx: ActorContext, call: MinerCall, faults: PartitionSectors[]): void {
  // A declared fault retracts a pending recovery; terminated sectors are left as they are.
  applyDeclarations(ctx, call, faults, 'fault', (s) => (!s.terminated && (!s.faulty || s.recovering) ? { ...s, faulty: true, recovering: false } : null));
}

export function declareFaultsRecovered(ctx: ActorContext, call: MinerCall, recoveries: PartitionSectors[]): void {
  // Only faulty sectors can recover; the others are ignored, as the actor does.
  applyDeclarations(ctx, call, recoveries, 'recovery', (s) => (s.faulty && !s.recovering && !s.terminated ? { ...s, recovering: true } : null));
}

/** Ends a sector (terminated or expired): it stays listed in its partition, its info goes, its pledge is unlocked. */
function endSector(ctx: ActorContext, miner: number, s: ProvingRow): void {
  const info = sectorInfo(ctx, miner, s.number);
  ctx.store.putProving({ ...s, faulty: false, recovering: false, terminated: true });
  ctx.store.endSector(miner, s.number, ctx.epoch);
  const state = ctx.store.miner(miner);
  if (state && info) ctx.store.putMiner({ ...state, locked: state.locked - BigInt(info.InitialPledge) });
}

export function terminateSectors(ctx: ActorContext, call: MinerCall, p: TerminateSectorsParams): TerminateSectorsReturn {
  const grouped = byDeadline(ctx, p.terminations);
  requireCaller(call);
  const offset = ctx.provingOffset(call.miner.id);
  for (const [index, decls] of grouped) {
    // Deadlines being proven (the open one and the next) are immutable.
    if (!isMutable(ctx.proving, offset, index, ctx.epoch)) fail(ExitCode.ErrIllegalArgument, `cannot terminate sectors in immutable deadline ${index}`);
    for (const d of decls) {
      const sectors = partitionOf(ctx, call.miner.id, d.deadline, d.partition);
      if (sectors.length === 0) fail(ExitCode.ErrNotFound, `failed to find partition ${d.partition}`);
      const live = new Map(sectors.filter((s) => !s.terminated).map((s) => [s.number, s]));
      if (d.sectors.some((n) => !live.has(n))) fail(ExitCode.ErrIllegalArgument, 'can only terminate live sectors');
      for (const n of d.sectors) endSector(ctx, call.miner.id, live.get(n) as ProvingRow);
    }
  }
  return { done: true };
}

export function extendSectorExpiration2(ctx: ActorContext, call: MinerCall, p: ExtendSectorExpiration2Params): void {
  const { epoch, policy, proving, store } = ctx;
  const { miner } = call;
  if (p.extensions.length > DECLARATIONS_MAX) fail(ExitCode.ErrIllegalArgument, `too many declarations ${p.extensions.length}, max ${DECLARATIONS_MAX}`);
  p.extensions.forEach((e, i) => {
    const count = e.sectors.length + e.sectorsWithClaims.length;
    if (count > ADDRESSED_SECTORS_MAX) fail(ExitCode.ErrIllegalArgument, `too many sectors for declaration ${i}, ${count} > ${ADDRESSED_SECTORS_MAX}`);
    if (e.deadline >= proving.periodDeadlines) fail(ExitCode.ErrIllegalArgument, `deadline ${e.deadline} not in range 0..${proving.periodDeadlines}`);
  });
  requireCaller(call);
  for (const e of p.extensions) {
    const sectors = partitionOf(ctx, miner.id, e.deadline, e.partition);
    if (sectors.length === 0) fail(ExitCode.ErrNotFound, `no such deadline ${e.deadline} partition ${e.partition}`);
    if (e.sectorsWithClaims.length > 0) {
      fail(ExitCode.ErrIllegalArgument, 'sectors_with_claims: the devnet has no verified registry; sectors with FIL+ claims cannot be extended');
    }
    for (const n of e.sectors) {
      const info = sectorInfo(ctx, miner.id, n) ?? fail(ExitCode.ErrNotFound, `sector ${n} not found`);
      if (info.Expiration < epoch) fail(ExitCode.ErrForbidden, `cannot extend expiration for expired sector ${n}, expired at ${info.Expiration}, now ${epoch}`);
      if (e.newExpiration < info.Expiration) fail(ExitCode.ErrIllegalArgument, `cannot reduce sector ${n} expiration to ${e.newExpiration} from ${info.Expiration}`);
      if (BigInt(info.VerifiedDealWeight) > 0n) fail(ExitCode.ErrIllegalArgument, `sector ${n} holds verified data: extend it with sectors_with_claims`);
      const lifetime = e.newExpiration - info.Activation;
      if (e.newExpiration <= info.Activation) fail(ExitCode.ErrIllegalArgument, `sector expiration ${e.newExpiration} must be after activation ${info.Activation}`);
      if (lifetime < policy.minSectorExpiration) {
        fail(ExitCode.ErrIllegalArgument, `invalid expiration ${e.newExpiration}, total sector lifetime (${lifetime}) must exceed ${policy.minSectorExpiration} after activation ${info.Activation}`);
      }
      if (e.newExpiration > epoch + policy.maxSectorExpirationExtension) {
        fail(ExitCode.ErrIllegalArgument, `invalid expiration ${e.newExpiration}, cannot be more than ${policy.maxSectorExpirationExtension} past current epoch ${epoch}`);
      }
      if (lifetime > SECTOR_MAXIMUM_LIFETIME) {
        fail(ExitCode.ErrIllegalArgument, `invalid expiration ${e.newExpiration}, total sector lifetime (${lifetime}) cannot exceed ${SECTOR_MAXIMUM_LIFETIME} after activation ${info.Activation}`);
      }
      const where = sectors.find((s) => s.number === n);
      if (!where || where.faulty || where.terminated) fail(ExitCode.ErrIllegalArgument, `refusing to replace inactive sectors in deadline ${e.deadline} partition ${e.partition}: sector ${n}`);
      store.putSector({ miner: miner.id, number: n, info: JSON.stringify({ ...info, Expiration: e.newExpiration }) }, epoch);
    }
  }
}

/**
 * The actor's cron at a deadline's last epoch: partitions not proven in it have every live sector marked
 * faulty (pending recoveries fail), and sectors whose expiration has come are expired.
 */
export function deadlineCron(ctx: ActorContext, miner: DevnetMiner): void {
  const d = currentDeadline(ctx.proving, ctx.provingOffset(miner.id), ctx.epoch);
  if (ctx.epoch !== d.close - 1) return;
  const posted = new Set(ctx.store.postedPartitions(miner.id, d.open));
  for (const s of ctx.store.deadlineSectors(miner.id, d.index)) {
    if (s.terminated) continue;
    const info = sectorInfo(ctx, miner.id, s.number);
    if (!info || info.Expiration <= ctx.epoch) {
      endSector(ctx, miner.id, s);
      continue;
    }
    if (!posted.has(s.partition) && (!s.faulty || s.recovering)) ctx.store.putProving({ ...s, faulty: true, recovering: false });
  }
}
