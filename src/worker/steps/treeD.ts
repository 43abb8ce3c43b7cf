import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CACHE_FILES } from '../processors/common.js';
import type { Step } from './context.js';
import { filesOf, proofName, sectorSize } from './common.js';

/**
 * PieceAdded: build tree D over the staged file into the sector's cache dir. A CC sector whose size has a
 * `[processors.static_tree_d]` file links that instead: every CC sector of a size has the same tree. A tree left
 * by an earlier try is removed first, so a processor never writes through a link into the shared file.
 */
export const treeD: Step = async (ctx) => {
  const files = filesOf(ctx);
  await mkdir(files.cache, { recursive: true });
  const tree = join(files.cache, CACHE_FILES.treeD);
  await rm(tree, { force: true });
  const shared = ctx.task.deals.length === 0 ? ctx.processors.staticTreeD(sectorSize(ctx.task)) : null;
  if (shared) {
    await symlink(shared, tree);
    ctx.log.info({ tree_d: shared }, 'CC sector: linked the static tree_d');
    return { event: 'BuildTreeD' };
  }
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
