import type { Step } from './context.js';
import { idOf } from './context.js';
import { pollForTask } from './common.js';

/**
 * Allocated (sealer): take deal pieces from the manager when deals are enabled; none means CC, unless
 * `disable_cc` says to wait for deals instead.
 */
export const acquireDeals: Step = async (ctx) => {
  if (!ctx.sealing.enable_deals) return { event: 'AcquireDeals', patch: { deals: [] } };
  const spec = { MaxDeals: ctx.sealing.max_deals, MinUsedSpace: ctx.sealing.min_deal_space };
  const ask = async () => {
    const deals = (await ctx.manager.acquireDeals(idOf(ctx.task), spec)) ?? [];
    return deals.length > 0 || !ctx.sealing.disable_cc ? deals : undefined;
  };
  const deals = await pollForTask(ctx, 'no deal for the sector (disable_cc: waiting for deals instead of sealing CC)', ask);
  return { event: 'AcquireDeals', patch: { deals } };
};
