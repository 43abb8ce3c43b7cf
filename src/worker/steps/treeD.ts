import { mkdir } from 'node:fs/promises';
import type { Step } from './context.js';
import { filesOf, proofName } from './common.js';

/** PieceAdded: build tree D over the staged file into the sector's cache dir. */
export const treeD: Step = async (ctx) => {
  const files = filesOf(ctx);
  await mkdir(files.cache, { recursive: true });
  ctx.running('tree_d');
  await ctx.processors.run('tree_d', { registered_proof: proofName(ctx.task), staged_file: files.staged, cache_dir: files.cache });
  return { event: 'BuildTreeD' };
};

/** SnapPieceAdded (rebuild): tree D of the snap data. */
export const snapTreeD: Step = async (ctx) => {
  const files = filesOf(ctx);
  await mkdir(files.updateCache, { recursive: true });
  ctx.running('tree_d');
  await ctx.processors.run('tree_d', { registered_proof: proofName(ctx.task), staged_file: files.updateStaged, cache_dir: files.updateCache });
  return { event: 'BuildTreeD' };
};
