import type { Step } from './context.js';
import { idOf } from './context.js';

/** TreeDBuilt (sealer): get the PC1 ticket from the chain through the manager. */
export const assignTicket: Step = async (ctx) => {
  const ticket = await ctx.manager.assignTicket(idOf(ctx.task));
  return { event: 'AssignTicket', patch: { ticket } };
};
