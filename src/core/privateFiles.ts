import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';

/** Secrets and databases are the owner's alone: files 0600, directories 0700. */
export const PRIVATE_FILE = 0o600;
export const PRIVATE_DIR = 0o700;

/** A file or directory that was open to others, with the mode it had before it was tightened. */
export interface Tightened {
  path: string;
  /** The old permission bits, as `ls` users read them: `0644`. */
  oldMode: string;
}

/**
 * Takes from `path` every permission bit `mode` does not grant (an owner-only 0400 stays 0400). Returns
 * what it changed, or null when the path is missing or already private.
 */
export function tightenMode(path: string, mode: number): Tightened | null {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if ((current & ~mode) === 0) return null;
  chmodSync(path, current & mode);
  return { path, oldMode: `0${current.toString(8)}` };
}

/** Creates `dir` (and its parents) as 0700, or tightens it when it exists. */
export function privateDir(dir: string): Tightened | null {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
  return tightenMode(dir, PRIVATE_DIR);
}

/**
 * Creates `path` empty at 0600 when it is missing, so that a file another library opens later (SQLite,
 * which gives its -wal and -shm files the database's mode) never exists with the umask's mode.
 */
export function precreatePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE));
}

/**
 * Writes `path` whole or not at all (a temporary file renamed over it), at 0600 from the first byte: a
 * reader never sees half a secret, and a crash leaves the old one.
 */
export function writePrivateFileAtomic(path: string, content: string): void {
  const partial = `${path}.partial`;
  writeFileSync(partial, content, { mode: PRIVATE_FILE });
  // writeFileSync's mode applies only to a file it creates; a partial left by a crash keeps its own.
  chmodSync(partial, PRIVATE_FILE);
  renameSync(partial, path);
}

/**
 * Reads a secret kept in a file of its own (`what`, e.g. "the chain token file", given as `source`); errors
 * name the file and where it was given, never its content.
 */
export function readSecretFile(path: string, what: string, source: string, expected: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new Error(`cannot read ${what} ${path} (${source}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (text === '') throw new Error(`${what} ${path} (${source}) is empty: expected ${expected}`);
  return text;
}
