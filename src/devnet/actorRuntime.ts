import type { SealPublicInputs, UpdatePublicInputs, WindowPoStPublicInputs } from '../core/mockProof.js';
import { ExitCode } from '../chain/exitCodes.js';
import type { DevnetMiner } from './config.js';
import type { ProvingPolicy } from './proving.js';
import type { DevnetStore } from './store.js';

/** A failed actor call: the message's receipt gets `exitCode`, and every state change of the message is undone. */
export class ActorError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const fail = (code: number, message: string): never => {
  throw new ActorError(code, message);
};

export interface MinerPolicy {
  preCommitChallengeDelay: number;
  maxPreCommitRandomnessLookback: number;
  maxProveCommitDuration: number;
  expiredPreCommitCleanUpDelay: number;
  minSectorExpiration: number;
  maxSectorExpirationExtension: number;
}

/** builtin-actors `SECTOR_MAXIMUM_LIFETIME` of V1_1 seal proofs (five years of epochs). */
export const SECTOR_MAXIMUM_LIFETIME = 5 * 1_051_897;

export type VerifyRequest =
  | { kind: 'seal'; proof: Uint8Array; inputs: SealPublicInputs }
  | { kind: 'update'; proof: Uint8Array; inputs: UpdatePublicInputs }
  | { kind: 'window_post'; proof: Uint8Array; inputs: WindowPoStPublicInputs };

export interface ActorContext {
  store: DevnetStore;
  policy: MinerPolicy;
  proving: ProvingPolicy;
  epoch: number;
  /** The miner's proving period offset (the actor draws it at creation). */
  provingOffset(miner: number): number;
  /** Chain randomness as the actor draws it: ticket (DST 5) and interactive seed (DST 6) for this miner. */
  sealRandomness(miner: number, epoch: number): Uint8Array;
  interactiveRandomness(miner: number, epoch: number): Uint8Array;
  /** Ticket randomness with tag PoStChainCommit and no entropy: what a PoSt commits to. */
  chainCommitRandomness(epoch: number): Uint8Array;
  /** Beacon randomness with tag WindowedPoStChallengeSeed for this miner: a deadline's challenge. */
  windowPoStRandomness(miner: number, epoch: number): Uint8Array;
  /** Whether the proof verifies; answers come from the verifier, run ahead of execution. */
  verify(request: VerifyRequest): boolean;
}

export interface MinerCall {
  miner: DevnetMiner;
  caller: number;
  method: number;
  params: Uint8Array;
}

/** The actor's `validate_immediate_caller_is(control addresses, worker, owner)`. */
export function requireCaller({ caller, miner }: MinerCall): void {
  if (![miner.owner, miner.worker, ...miner.control].includes(caller)) {
    fail(ExitCode.ErrForbidden, `caller t0${caller} is not one of supported`);
  }
}

export function decodeParams<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return fail(ExitCode.ErrSerialization, `failed to decode params: ${(err as Error).message}`);
  }
}
