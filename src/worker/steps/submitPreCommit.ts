import { abort, permanent } from '../../core/errors.js';
import { SubmitResult, TICKET_EXPIRED } from '../../core/wire/sealer.js';
import type { Step } from './context.js';
import { sectorOf } from './context.js';
import { required } from './common.js';
import { verifyAfterPc2 } from './c1.js';

/** PC2Done: hand CommR, CommD and the ticket to the manager for the PreCommit message (checked first if asked). */
export const submitPreCommit: Step = async (ctx) => {
  const { task } = ctx;
  if (ctx.sealing.verify_after_pc2) await verifyAfterPc2(ctx);
  const info = { CommR: required(task.commR, 'CommR'), CommD: required(task.commD, 'CommD'), Ticket: required(task.ticket, 'ticket') };
  const res = await ctx.manager.submitPreCommit(sectorOf(task), info, task.preResubmit);
  switch (res.Res) {
    case SubmitResult.Accepted:
    case SubmitResult.DuplicateSubmit:
      return { event: 'SubmitPC', patch: { preResubmit: false } };
    case SubmitResult.MismatchedSubmission:
      throw permanent(`pre-commit mismatched: ${res.Desc ?? ''}`);
    case SubmitResult.Rejected:
      if (ctx.sealing.ticket_expiry_check && res.Desc?.startsWith(TICKET_EXPIRED)) {
        // Deadline-aware tickets: start again from a fresh ticket rather than losing the sector.
        ctx.log.warn({ desc: res.Desc }, 'ticket expired: back to TreeDBuilt for a new one');
        return { event: 'TicketExpired', patch: { ticket: null, pc1out: null, commR: null, commD: null, preResubmit: true } };
      }
      throw abort(`pre-commit rejected: ${res.Desc ?? ''}`);
    default:
      throw permanent(`unexpected pre-commit answer ${res.Res}: ${res.Desc ?? ''}`);
  }
};
