import type { Step } from './context.js';
import { idOf } from './context.js';

/** Allocated (sealer): take deal pieces from the manager when deals are enabled; none means CC. */
export const acquireDeals: Step = async (ctx) => {
  if (!ctx.sealing.enable_deals) return { event: 'AcquireDeals', patch: { deals: [] } };
  const deals = await ctx.manager.acquireDeals(idOf(ctx.task), { MaxDeals: ctx.sealing.max_deals, MinUsedSpace: ctx.sealing.min_deal_space });
  return { event: 'AcquireDeals', patch: { deals: deals ?? [] } };
};
