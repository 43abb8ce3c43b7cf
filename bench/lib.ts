import { spawn } from 'node:child_process';

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
 * `ready`; the caller kills the child.
 */
export function timeUntilReady(args: string[], ready: RegExp): Promise<{ ms: number; line: string; pid: number; kill: () => void }> {
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SEALFLEET_LOG: 'info' } });
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => ready.test(l));
      if (line) {
        resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, line, pid: child.pid as number, kill: () => child.kill('SIGKILL') });
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code} before ready`)));
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
