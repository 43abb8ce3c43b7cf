import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, parse, resolve, sep } from 'node:path';
import { z } from 'zod';
import type { AttachedStore } from './attachedStores.js';

const MAGIC = /[*?[]/;

/** One path segment of a glob as a regex: `*`, `?` and `[...]` (`[!...]` negates); none matches `/`. */
function segmentRegex(segment: string): RegExp {
  let out = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charAt(i);
    if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else out += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

/**
 * The directories matching an absolute glob, sorted. Like a shell, a wildcard does not match a leading dot,
 * and a pattern without wildcards matches itself if it is a directory.
 */
export function globDirectories(pattern: string): string[] {
  const { root } = parse(pattern);
  const segments = pattern.slice(root.length).split(sep).filter((s) => s !== '' && s !== '.');
  let dirs = [root];
  for (const segment of segments) {
    const next: string[] = [];
    for (const dir of dirs) {
      if (!MAGIC.test(segment)) {
        next.push(join(dir, segment));
        continue;
      }
      const regex = segmentRegex(segment);
      let entries: string[];
      try {
        entries = readdirSync(dir);
      } catch {
        continue;
      }
      for (const e of entries) if (regex.test(e) && (!e.startsWith('.') || segment.startsWith('.'))) next.push(join(dir, e));
    }
    dirs = next;
  }
  return dirs.filter(isDirectory).sort();
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The keys of damocles' `sectorstore.json` that say how a worker attaches the store; the others are the manager's. */
const SectorStoreJson = z.looseObject({
  ID: z.string().optional(),
  Name: z.string().optional(),
  ReadOnly: z.boolean().optional(),
});

/**
 * `worker.scan_persist_stores`: every directory matched by a glob (relative ones against `dir`) that holds a
 * `sectorstore.json` becomes an attached store named by its `Name`, else its `ID`, else its path.
 */
export function scanPersistStores(globs: readonly string[], dir: string): { store: AttachedStore; file: string }[] {
  const found: { store: AttachedStore; file: string }[] = [];
  for (const glob of globs) {
    for (const location of globDirectories(isAbsolute(glob) ? glob : resolve(dir, glob))) {
      const file = join(location, 'sectorstore.json');
      if (!existsSync(file) || found.some((f) => f.store.location === location)) continue;
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new Error(`persist store file ${file} (found by worker.scan_persist_stores "${glob}"): ${(err as Error).message}`);
      }
      const parsed = SectorStoreJson.safeParse(json);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`).join('; ');
        throw new Error(`persist store file ${file} (found by worker.scan_persist_stores "${glob}"): ${problems}; expected {"ID": string, "Name": string, "ReadOnly": boolean}`);
      }
      const { Name, ID, ReadOnly } = parsed.data;
      found.push({ store: { name: Name || ID || location, location, read_only: ReadOnly ?? false }, file });
    }
  }
  return found;
}
