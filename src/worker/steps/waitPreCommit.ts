import { abort, permanent } from '../../core/errors.js';
import { OnChainState, type PollStateResp } from '../../core/wire/sealer.js';
import type { Step, StepContext, StepResult } from './context.js';
import { idOf } from './context.js';
import { poll } from './common.js';

/** Waits for a submitted message's fate; Landed → `landed`, a retriable failure → `resubmit`. */
export async function waitOnChain(ctx: StepContext, what: string, query: () => Promise<PollStateResp>, landed: StepResult, resubmit: StepResult): Promise<StepResult> {
  const state = await poll(ctx, ctx.sealing.rpc_polling_interval, `${what} on chain`, async () => {
    const s = await query();
    return s.State === OnChainState.Pending || s.State === OnChainState.Packed ? undefined : s;
  });
  switch (state.State) {
    case OnChainState.Landed:
      return landed;
    case OnChainState.Failed:
      await ctx.wait(ctx.sealing.recover_interval, `${what} failed; resubmitting`);
      return resubmit;
    case OnChainState.ShouldAbort:
      throw abort(`${what}: ${state.Desc ?? 'the manager says to abort'}`);
    default:
      throw permanent(`${what} on chain: state ${state.State}: ${state.Desc ?? ''}`);
  }
}

/** PCSubmitted: wait for the PreCommit message to land. */
export const waitPreCommit: Step = (ctx) =>
  waitOnChain(ctx, 'pre-commit', () => ctx.manager.pollPreCommitState(idOf(ctx.task)), { event: 'CheckPC' }, { event: 'ReSubmitPC', patch: { preResubmit: true } });
