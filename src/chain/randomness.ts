import { blake2b } from '@noble/hashes/blake2.js';

/** Domain separation tags of chain randomness (builtin-actors `runtime/src/runtime/randomness.rs`). */
export const DomainSeparationTag = {
  TicketProduction: 1,
  ElectionProofProduction: 2,
  WinningPoStChallengeSeed: 3,
  WindowedPoStChallengeSeed: 4,
  SealRandomness: 5,
  InteractiveSealChallengeSeed: 6,
  WindowPoStDeadlineAssignment: 7,
  MarketDealCronSeed: 8,
  PoStChainCommit: 9,
  EvmPrevRandao: 10,
} as const;

function i64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n));
  return out;
}

/**
 * The chain's `draw_randomness`: blake2b-256(i64_be(tag) ‖ base ‖ i64_be(epoch) ‖ entropy), where `base`
 * is the ticket or beacon randomness of the tipset at `epoch`.
 */
export function drawRandomness(base: Uint8Array, tag: number, epoch: number, entropy: Uint8Array): Uint8Array {
  const h = blake2b.create({ dkLen: 32 });
  h.update(i64be(tag)).update(base).update(i64be(epoch)).update(entropy);
  return h.digest();
}
