import { randomBytes } from 'node:crypto';
import { copyFile, cp, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import type { TransferTask } from '../../core/wire/processor.js';

/**
 * The `transfer` stage of the mock and builtin processors: copies each route's file or directory to its
 * destination. Each copy is written under a temporary name beside the destination, flushed, then renamed, so
 * a crash never leaves a half-written file under the final name and running the task again simply redoes it.
 */
export async function transfer(task: TransferTask): Promise<boolean> {
  for (const route of task.routes) {
    if (!isAbsolute(route.src) || !isAbsolute(route.dest)) {
      throw new Error(`transfer routes need absolute paths, got ${route.src} → ${route.dest}`);
    }
    const source = await stat(route.src).catch((err: NodeJS.ErrnoException) => {
      throw new Error(`transfer source ${route.src}: ${err.code === 'ENOENT' ? 'does not exist' : err.message}`);
    });
    if (source.isDirectory() !== route.is_dir) {
      throw new Error(`transfer source ${route.src} is ${source.isDirectory() ? 'a directory' : 'not a directory'}, but the route says is_dir = ${route.is_dir}`);
    }
    await mkdir(dirname(route.dest), { recursive: true });
    const temp = `${route.dest}.transfer-${randomBytes(4).toString('hex')}`;
    try {
      if (route.is_dir) {
        await cp(route.src, temp, { recursive: true, dereference: true });
        await syncTree(temp);
        // rename() cannot replace a non-empty directory: the old copy goes first (it was complete, and so is ours).
        await rm(route.dest, { recursive: true, force: true });
      } else {
        await copyFile(route.src, temp);
        await syncFile(temp);
      }
      await rename(temp, route.dest);
    } catch (err) {
      await rm(temp, { recursive: true, force: true });
      throw err;
    }
    await syncFile(dirname(route.dest));
  }
  return true;
}

/** fsync, so that the rename that publishes a copy never lands on disk before the copy's data. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await syncTree(join(dir, entry.name));
    else if (entry.isFile()) await syncFile(join(dir, entry.name));
  }
  await syncFile(dir);
}
