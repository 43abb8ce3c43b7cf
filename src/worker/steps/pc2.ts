import type { Step } from './context.js';
import { filesOf, required } from './common.js';

/** PC1Done: PC2 gives CommR and CommD. */
export const pc2: Step = async (ctx) => {
  const files = filesOf(ctx);
  ctx.running('pc2');
  const out = await ctx.processors.run('pc2', { pc1out: required(ctx.task.pc1out, 'pc1 output'), cache_dir: files.cache, sealed_file: files.sealed });
  return { event: 'PC2', patch: { commR: out.comm_r, commD: out.comm_d } };
};
