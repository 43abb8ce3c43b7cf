import { blake2b } from '@noble/hashes/blake2.js';
import { minerEntropy } from '../chain/address.js';
import type { DeadlineInfo } from '../chain/types.js';
import type { DevnetConfig } from './config.js';

/**
 * The Window PoSt schedule of builtin-actors v18 (`actors/miner/src/deadline_info.rs`, `policy.rs`,
 * `state.rs`): each miner's proving period starts at an offset drawn when the miner was created, is cut
 * into `periodDeadlines` deadlines of `challengeWindow` epochs, and each deadline's challenge is drawn
 * `challengeLookback` epochs before it opens.
 */
export interface ProvingPolicy {
  provingPeriod: number;
  challengeWindow: number;
  periodDeadlines: number;
  challengeLookback: number;
  faultDeclarationCutoff: number;
}

export function provingPolicy(chain: DevnetConfig['chain']): ProvingPolicy {
  return {
    provingPeriod: chain.wpost_proving_period,
    challengeWindow: chain.wpost_challenge_window,
    periodDeadlines: chain.wpost_period_deadlines,
    challengeLookback: chain.wpost_challenge_lookback,
    faultDeclarationCutoff: chain.fault_declaration_cutoff,
  };
}

/** One deadline of one proving period, seen from `currentEpoch`. */
export interface Deadline {
  currentEpoch: number;
  periodStart: number;
  index: number;
  open: number;
  close: number;
  challenge: number;
  faultCutoff: number;
}

/**
 * The actor's `assign_proving_period_offset`: blake2b-256 of the miner's CBOR address and the creation epoch
 * (big-endian i64); the first 8 bytes, big-endian, modulo the proving period. Devnet miners are created at 0.
 */
export function provingPeriodOffset(policy: ProvingPolicy, minerId: number, createdAt = 0): number {
  const entropy = minerEntropy(minerId);
  const data = new Uint8Array(entropy.length + 8);
  data.set(entropy);
  new DataView(data.buffer).setBigInt64(entropy.length, BigInt(createdAt));
  const digest = blake2b(data, { dkLen: 32 });
  return Number(new DataView(digest.buffer, digest.byteOffset).getBigUint64(0) % BigInt(policy.provingPeriod));
}

const mod = (a: number, m: number): number => ((a % m) + m) % m;

export function deadlineAt(policy: ProvingPolicy, periodStart: number, index: number, currentEpoch: number): Deadline {
  const open = periodStart + index * policy.challengeWindow;
  return {
    currentEpoch,
    periodStart,
    index,
    open,
    close: open + policy.challengeWindow,
    challenge: open - policy.challengeLookback,
    faultCutoff: open - policy.faultDeclarationCutoff,
  };
}

/** The deadline open at `epoch` (every epoch lies in exactly one). */
export function currentDeadline(policy: ProvingPolicy, offset: number, epoch: number): Deadline {
  const periodStart = epoch - mod(epoch - offset, policy.provingPeriod);
  return deadlineAt(policy, periodStart, Math.floor((epoch - periodStart) / policy.challengeWindow), epoch);
}

/** Deadline `index` of the current period, or of the next one when it has already closed. */
export function nextNotElapsed(policy: ProvingPolicy, offset: number, index: number, epoch: number): Deadline {
  const current = currentDeadline(policy, offset, epoch);
  const d = deadlineAt(policy, current.periodStart, index, epoch);
  return epoch >= d.close ? deadlineAt(policy, current.periodStart + policy.provingPeriod, index, epoch) : d;
}

/**
 * The actor's `deadline_is_mutable`: neither open nor next to open (its challenge may already be drawn),
 * so sectors may be added to it or removed from it.
 */
export function isMutable(policy: ProvingPolicy, offset: number, index: number, epoch: number): boolean {
  return epoch < nextNotElapsed(policy, offset, index, epoch).open - policy.challengeWindow;
}

export function toLotusDeadline(policy: ProvingPolicy, d: Deadline): DeadlineInfo {
  return {
    CurrentEpoch: d.currentEpoch,
    PeriodStart: d.periodStart,
    Index: d.index,
    Open: d.open,
    Close: d.close,
    Challenge: d.challenge,
    FaultCutoff: d.faultCutoff,
    WPoStPeriodDeadlines: policy.periodDeadlines,
    WPoStProvingPeriod: policy.provingPeriod,
    WPoStChallengeWindow: policy.challengeWindow,
    WPoStChallengeLookback: policy.challengeLookback,
    FaultDeclarationCutoff: policy.faultDeclarationCutoff,
  };
}

/** What deadline assignment weighs: sectors in a deadline, all of them (terminated included) and the live ones. */
export interface DeadlineLoad {
  index: number;
  total: number;
  live: number;
}

const partitionsFor = (sectors: number, partitionSize: number): number => Math.ceil(sectors / partitionSize);

/**
 * Orders candidate deadlines as the actor's `assign_deadlines` heap does: fewest partitions after adding a
 * sector (live sectors, then all), then one with a partly filled partition, then fewest live sectors, then
 * the lowest index. (The actor's cap on partitions per deadline is not modelled.)
 */
function before(a: DeadlineLoad, b: DeadlineLoad, partitionSize: number): boolean {
  const compactA = partitionsFor(a.live + 1, partitionSize);
  const compactB = partitionsFor(b.live + 1, partitionSize);
  if (compactA !== compactB) return compactA < compactB;
  const allA = partitionsFor(a.total + 1, partitionSize);
  const allB = partitionsFor(b.total + 1, partitionSize);
  if (allA !== allB) return allA < allB;
  const partialA = a.total % partitionSize !== 0;
  const partialB = b.total % partitionSize !== 0;
  if (partialA !== partialB) return partialA;
  if (a.live !== b.live) return a.live < b.live;
  return a.index < b.index;
}

/**
 * Places new sectors one at a time in the best mutable deadline; within a deadline a sector goes to the
 * last partition while it has room, else opens the next one, so partitions hold `partitionSize` sectors.
 */
export function assignSectors(
  loads: DeadlineLoad[],
  sectors: number[],
  partitionSize: number,
): { number: number; deadline: number; partition: number }[] {
  if (loads.length === 0) throw new Error('no deadline is mutable');
  const state = loads.map((l) => ({ ...l }));
  return sectors.map((number) => {
    const best = state.reduce((a, b) => (before(b, a, partitionSize) ? b : a));
    const placed = { number, deadline: best.index, partition: Math.floor(best.total / partitionSize) };
    best.total++;
    best.live++;
    return placed;
  });
}
