import { spawn } from 'node:child_process';
import { sealerPlan } from '../src/core/plans/index.js';

/** Median of the samples. */
export function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * Spawns `node <args>` and resolves with the child and the milliseconds until a stdout line matches
 * `ready`; the caller kills the child (`kill`) or lets it exit cleanly (`stop`: SIGTERM, then waits, e.g. for a
 * `--cpu-prof` profile to be written). Output after the ready line is drained, not kept.
 */
export function timeUntilReady(args: string[], ready: RegExp): Promise<{ ms: number; line: string; pid: number; kill: () => void; stop: () => Promise<void> }> {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SEALFLEET_LOG: 'info' } });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const hard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(hard);
  };
  return new Promise((resolve, reject) => {
    let buf = '';
    let up = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (up) return;
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => ready.test(l));
      if (line) {
        up = true;
        buf = '';
        resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, line, pid: child.pid as number, kill: () => child.kill('SIGKILL'), stop });
      }
    });
    child.on('exit', (code) => {
      if (!up) reject(new Error(`${args.join(' ')} exited ${code} before ready`));
    });
  });
}

/** Runs `call` with `concurrency` callers for `count` calls in total; returns calls/s and per-call ms. */
export async function load(count: number, concurrency: number, call: () => Promise<unknown>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { perSecond: (count / (performance.now() - start)) * 1000, latencies };
}

export const fmt = (n: number, digits = 1): string => n.toFixed(digits);

/**
 * A sealing thread's reports for each sector: the sealer plan's moves in turn, round and round, so every
 * ReportState is a new move (one sent again is recognised and logged once: a cheaper path than a thread's).
 */
export function sealerMoves(): (sector: number) => { Prev: string; Next: string; Event: string } {
  const walked = new Map<number, number>();
  return (sector) => {
    const step = walked.get(sector) ?? 0;
    walked.set(sector, step + 1);
    const move = sealerPlan.transitions[step % sealerPlan.transitions.length] as (typeof sealerPlan.transitions)[number];
    return { Prev: move.from, Next: move.to, Event: move.event };
  };
}

export type Verdict = 'met' | 'not met' | '—';

/** One row of BENCHMARKS.md: a figure against its baseline from the same run, and its target if it has one. */
export interface Figure {
  figure: string;
  measured: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict;
}

/** Whether `value` meets a target `op limit` ('<' and '≤' for costs, '≥' for rates). */
export function verdict(value: number, op: '<' | '≤' | '≥', limit: number): Verdict {
  switch (op) {
    case '<':
      return value < limit ? 'met' : 'not met';
    case '≤':
      return value <= limit ? 'met' : 'not met';
    case '≥':
      return value >= limit ? 'met' : 'not met';
  }
}

/** A figure that could not be measured here (a missing sidecar or database server), saying why. */
export const skipped = (figure: string, why: string): Figure => ({ figure, measured: `skipped: ${why}`, baseline: '—', ratio: '—', target: '—', verdict: '—' });

/** What one benchmark hands the runner: its rows, and optionally a markdown section of detail under them. */
export interface BenchOutput {
  figures: Figure[];
  details?: string;
}
