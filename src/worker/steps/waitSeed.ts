import type { Step } from './context.js';
import { sectorOf } from './context.js';

/** PersistanceSubmitted: wait for the interactive seed (the manager says how long). */
export const waitSeed: Step = async (ctx) => {
  const sector = sectorOf(ctx.task);
  for (;;) {
    const r = await ctx.manager.waitSeed(sector.ID, sector.ProofType);
    if (!r.ShouldWait && r.Seed) return { event: 'AssignSeed', patch: { seed: r.Seed } };
    await ctx.wait(Math.max(1, r.Delay) * 1000, 'waiting for the seed epoch');
  }
};

