import { execFile } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Why a small filesystem of its own cannot be mounted here (tmpfs needs root), or null. */
export function tmpfsUnavailable(): string | null {
  if (process.platform !== 'linux') return `a tmpfs of its own needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'a tmpfs of its own needs root, to mount it';
  return null;
}

/** Mounts a tmpfs of `size` (e.g. `8m`) at `dir`, creating it; the returned function unmounts it. */
export async function mountTmpfs(dir: string, size: string): Promise<() => Promise<void>> {
  mkdirSync(dir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'sealfleet-test', dir]);
  return async () => {
    await run('umount', ['-l', dir]);
  };
}

/** Fills the filesystem under `dir` to the last block; the returned function frees it. */
export function fillDisk(dir: string): () => void {
  const file = join(dir, 'filler');
  const fd = openSync(file, 'w');
  try {
    for (const size of [1 << 20, 4096, 512]) {
      const chunk = Buffer.alloc(size, 1);
      for (;;) {
        try {
          writeSync(fd, chunk);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw err;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return () => rmSync(file, { force: true });
}
