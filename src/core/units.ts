/** Durations and sizes as operators write them in config and on the command line. */

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  m: 60_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|sec|s|min|m|h|d)/y;

/** Parses `500ms`, `30s`, `1min`, `2h`, `1h30m`; returns milliseconds. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === '') throw new Error(`invalid duration "${text}": expected e.g. 30s, 1min, 2h, 1h30m`);
  if (input === '0') return 0;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < input.length) {
    const start = DURATION_PART.lastIndex;
    const match = DURATION_PART.exec(input);
    if (!match || match.index !== start) {
      throw new Error(`invalid duration "${text}": expected e.g. 30s, 1min, 2h, 1h30m (units ms, s, min, h, d)`);
    }
    total += Number(match[1]) * (DURATION_UNITS[match[2] as string] as number);
  }
  return Math.round(total);
}

/** Prints a duration the way `worker list` shows it: `850ms`, `17s`, `13m42s`, `2h5m`, `3d4h`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return h > 0 ? `${d}d${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h${m}m` : `${h}h`;
  if (m > 0) return sec > 0 ? `${m}m${sec}s` : `${m}m`;
  return `${sec}s`;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/** Parses `2KiB`, `8MiB`, `512MiB`, `32GiB`, `64GiB`, `1.5TiB` or a plain byte count; returns bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = match ? SIZE_UNITS[(match[2] as string).toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new Error(`invalid size "${text}": expected a byte count or a value like 2KiB, 8MiB, 512MiB, 32GiB`);
  }
  const bytes = Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes)) throw new Error(`invalid size "${text}": not a whole number of bytes`);
  return bytes;
}

/** Prints bytes in the largest binary unit that divides them: 2048 → `2KiB`, 34359738368 → `32GiB`. */
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
