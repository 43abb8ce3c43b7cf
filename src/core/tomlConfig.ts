import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import type { z } from 'zod';

/**
 * Reads and validates a TOML config file. Every problem is reported in one line naming the file and
 * the key: unknown keys are errors (a typo must not silently fall back to a default).
 */
export function readTomlConfig<S extends z.ZodType>(path: string, what: string, schema: S): z.output<S> {
  let raw: unknown;
  try {
    raw = parseToml(readFileSync(path, 'utf8'));
  } catch (err) {
    const { message, line, column } = err as Error & { line?: number; column?: number };
    const where = line === undefined ? '' : ` (line ${line}, column ${column})`;
    throw new Error(`cannot read ${what} ${path}${where}: ${(message.split('\n')[0] ?? '').trim()}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const key = i.path.map(String).join('.');
      if (i.code === 'unrecognized_keys') return `unknown key ${i.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ')}`;
      return `${key || '(root)'}: ${i.message}`;
    });
    throw new Error(`invalid ${what} ${path}: ${problems.join('; ')}`);
  }
  return parsed.data;
}
