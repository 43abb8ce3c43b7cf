import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutputOf, Stage, TaskOf } from '../../core/wire/processor.js';

/** One in-process implementation of a stage (`mock` or `builtin`). */
export type StageHandler<S extends Stage> = (task: TaskOf<S>) => Promise<OutputOf<S>>;
export type StageHandlers = { [S in Stage]: StageHandler<S> };

/** Cache file names of rust-fil-proofs for sectors up to 512MiB (larger ones split tree-r-last in 8 or 16). */
export const CACHE_FILES = {
  treeD: 'sc-02-data-tree-d.dat',
  treeRLast: 'sc-02-data-tree-r-last.dat',
  pAux: 'p_aux',
  tAux: 't_aux',
} as const;

/** Creates (or empties) `path` as a sparse file of `size` zero bytes, creating its directory. */
export async function sparseFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const file = await open(path, 'w');
  try {
    await file.truncate(size);
  } finally {
    await file.close();
  }
}
