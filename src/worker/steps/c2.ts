import { proverId } from '../../core/wire/processor.js';
import type { Step } from './context.js';
import { required } from './common.js';

/** C1Done: the SNARK (C2). */
export const c2: Step = async (ctx) => {
  const sector = required(ctx.task.sector, 'sector');
  ctx.running('c2');
  const out = await ctx.processors.run('c2', { c1out: required(ctx.task.c1out, 'c1 output'), prover_id: proverId(sector.miner), sector_id: sector.number, miner_id: sector.miner });
  return { event: 'C2', patch: { proof: Buffer.from(out.proof).toString('base64'), c1out: null } };
};
