import type { StateDuration } from '../../core/wire/dashboard.js';
import { MANAGER_EVENT_SOURCE, type SectorEventRow } from '../sectors/store.js';

/**
 * How long sectors stay in each state their workers report, read from the sector event history. A stay in
 * state S starts at the worker event whose `next` is S and ends at the sector's next worker event; the
 * manager's own rows (batching, messages) do not end a stay, since the worker is still in S meanwhile.
 * `Finished` and `Aborted` are where sectors rest, not stays.
 */
export interface Stays {
  /** Durations (ms) of the completed stays, by state. */
  completed: Map<string, number[]>;
  /** The stay each sector is in now (its latest worker event), by sector key. */
  open: Map<string, { state: string; since: number }>;
}

const RESTING = new Set(['Finished', 'Aborted']);

/** `events` in any order of sectors, each sector's rows in the order they were written. */
export function sectorStays(events: readonly SectorEventRow[]): Stays {
  const completed = new Map<string, number[]>();
  const open = new Map<string, { state: string; since: number }>();
  for (const e of events) {
    if (e.worker_instance === MANAGER_EVENT_SOURCE || e.next === null) continue;
    const key = `${e.miner}/${e.number}`;
    const previous = open.get(key);
    if (previous) {
      const list = completed.get(previous.state) ?? [];
      list.push(Math.max(0, Number(e.at) - previous.since));
      completed.set(previous.state, list);
    }
    if (RESTING.has(e.next)) open.delete(key);
    else open.set(key, { state: e.next, since: Number(e.at) });
  }
  return { completed, open };
}

/** The smallest value with at least share `q` of `sorted` at or below it. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** Bucket bounds of the duration histogram: 100 ms to a day, about a factor of ten apart. */
const BUCKETS_MS = [100, 1_000, 10_000, 60_000, 600_000, 3_600_000, 21_600_000, 86_400_000];

export function durationStats(state: string, durations: readonly number[]): StateDuration {
  const sorted = [...durations].sort((a, b) => a - b);
  const max = sorted.at(-1) ?? 0;
  const bounds = [...BUCKETS_MS.filter((b) => b < max), Math.max(max, BUCKETS_MS[0] as number)];
  const buckets = bounds.map((le, i) => ({ LeMs: le, Count: sorted.filter((d) => d <= le && (i === 0 || d > (bounds[i - 1] as number))).length }));
  return { State: state, Count: sorted.length, P50Ms: quantile(sorted, 0.5), P90Ms: quantile(sorted, 0.9), MaxMs: max, Buckets: buckets };
}

/**
 * How long a stay in `state` may last before it is worth an operator's look: SLOW_FACTOR × the p90 of the
 * completed stays there (at least `floorMs`), or null with fewer than `minSamples` of them to judge by.
 */
export function slowAfter(durations: readonly number[] | undefined, opts: { factor: number; floorMs: number; minSamples: number }): number | null {
  if (!durations || durations.length < opts.minSamples) return null;
  return Math.max(opts.floorMs, opts.factor * quantile([...durations].sort((a, b) => a - b), 0.9));
}
