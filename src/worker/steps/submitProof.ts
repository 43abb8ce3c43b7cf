import { abort, permanent } from '../../core/errors.js';
import { SubmitResult } from '../../core/wire/sealer.js';
import type { Step } from './context.js';
import { idOf } from './context.js';
import { required } from './common.js';
import { waitOnChain } from './waitPreCommit.js';

/** C2Done: hand the proof to the manager for the ProveCommit message. */
export const submitProof: Step = async (ctx) => {
  const res = await ctx.manager.submitProof(idOf(ctx.task), required(ctx.task.proof, 'proof'), ctx.task.proofResubmit);
  if (res.Res === SubmitResult.Accepted || res.Res === SubmitResult.DuplicateSubmit) return { event: 'SubmitProof', patch: { proofResubmit: false } };
  if (res.Res === SubmitResult.Rejected) throw abort(`proof rejected: ${res.Desc ?? ''}`);
  throw permanent(`proof not accepted (${res.Res}): ${res.Desc ?? ''}`);
};

/**
 * ProofSubmitted: wait for the ProveCommit message to land, unless `ignore_proof_check` leaves that to the
 * manager (sealfleet-manager then answers the finish step's ReportFinalized only once the proof landed).
 */
export const waitProof: Step = async (ctx) => {
  if (ctx.sealing.ignore_proof_check) return { event: 'Finish' };
  return waitOnChain(ctx, 'proof', () => ctx.manager.pollProofState(idOf(ctx.task)), { event: 'Finish' }, { event: 'ReSubmitProof', patch: { proofResubmit: true } });
};
