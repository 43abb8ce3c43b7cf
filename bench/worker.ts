import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { RpcClient } from '../src/core/rpc/client.js';
import type { SectorSummary } from '../src/manager/api/admin.js';
import { fmt, median, percentile, timeUntilReady, verdict, type Figure } from './lib.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));
const WORKER_BIN = fileURLToPath(new URL('../bin/sealfleet-worker.js', import.meta.url));

/** Steps that end a wait for the chain (the seed epoch, a message landing): not orchestration overhead. */
const CHAIN_WAITS = new Set(['CheckPC', 'AssignSeed', 'Finish']);

function managerHome(sealing: boolean): string {
  const home = mkdtempSync(join(tmpdir(), 'sealfleet-bench-worker-'));
  mkdirSync(join(home, 'devnet'));
  writeFileSync(join(home, 'devnet', 'devnet.toml'), '[chain]\nblock_time = "100ms"\npre_commit_challenge_delay = 1\n');
  writeFileSync(join(home, 'manager.toml'), `[chain]\nseal_randomness_lookback = 5\nseed_confidence = 0\nmessage_confidence = 0\npoll_interval = "50ms"\n\n[[miners]]\nid = 1000\nsender = "t0100"\n[miners.sector]\nenabled = ${sealing}\n\n[[persist_stores]]\nname = "local"\npath = "${home}/persist"\n`);
  return home;
}

function workerConfig(home: string, url: string, threads: number, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'worker.toml');
  const t = Array.from({ length: threads }, (_, i) => `[[sealing_thread]]\nlocation = "t${i}"\n`).join('\n');
  writeFileSync(path, `[worker]\nname = "bench"\nping_interval = "5s"\nrpc_server.port = 0\n\n[sector_manager]\nrpc_client.addr = "${url}"\ntoken = "${readFileSync(join(home, 'token'), 'utf8').trim()}"\n\n[sealing]\nseal_interval = "200ms"\nrecover_interval = "100ms"\nrpc_polling_interval = "20ms"\n\n${t}\n[[attached]]\nname = "local"\nlocation = "${home}/persist"\n\n[processors]\ndefault = "mock"\n[processors.mock]\nstage_time = "0ms"\n`);
  return path;
}

const rssKiB = (pid: number): number => Number(execFileSync('ps', ['-o', 'rss=', '-p', String(pid)]).toString().trim());

/**
 * The zero-delay mock pipeline (8 sealer threads, mock processors with no added delay, a 100 ms devnet):
 * sectors per second, and the cost of one transition (the step and its durable write) from the threads' own
 * event logs, leaving out the steps that end a wait for the chain. Baseline: the time each step spent in
 * processors, which the log keeps with the transition (the mock processors still hash pieces and write files; `transfer` copies them
 * with fsync). Orchestration is the rest: the step's own work, its RPCs and its durable write. Target: < 2 ms.
 */
export async function benchWorkerPipeline(sectorsWanted = 40, threads = 8): Promise<Figure> {
  const home = managerHome(true);
  const manager = await timeUntilReady([MANAGER_BIN, 'daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0'], /"manager up"/);
  const url = (JSON.parse(manager.line) as { url: string }).url;
  const dir = join(home, 'worker');
  const worker = await timeUntilReady([WORKER_BIN, 'daemon', '-c', workerConfig(home, url, threads, dir)], /"worker up"/);
  const rpc = new RpcClient({ url: `${url}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim() });
  try {
    const start = performance.now();
    for (;;) {
      const done = (await rpc.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }])).length;
      if (done >= sectorsWanted) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const seconds = (performance.now() - start) / 1000;
    const steps: { total: number; processor: number; orchestration: number }[] = [];
    const byEvent = new Map<string, number[]>();
    for (let i = 0; i < threads; i++) {
      const db = new Database(join(dir, `t${i}`, 'meta', 'sealfleet.db'), { readonly: true });
      const events = db.prepare('select sector, event, took_ms, processor_ms from events order by id').all() as { sector: string; event: string; took_ms: number | null; processor_ms: number | null }[];
      db.close();
      for (let k = 1; k < events.length; k++) {
        const [prev, cur] = [events[k - 1], events[k]] as [(typeof events)[number], (typeof events)[number]];
        if (cur.sector === prev.sector && cur.took_ms !== null && !CHAIN_WAITS.has(cur.event) && cur.event !== 'Retry' && prev.event !== 'Retry') {
          const total = cur.took_ms;
          const processor = cur.processor_ms ?? 0;
          steps.push({ total, processor, orchestration: total - processor });
          byEvent.set(cur.event, [...(byEvent.get(cur.event) ?? []), total - processor]);
        }
      }
    }
    const med = (key: 'total' | 'processor' | 'orchestration'): number => median(steps.map((s) => s[key]));
    const orchestration = steps.map((s) => s.orchestration);
    // The steps that also wait on the chain through the manager (ticket, pre-commit checks) cost most.
    const perStep = [...byEvent].map(([e, v]) => `${e} ${fmt(median(v), 2)}`).join(', ');
    return {
      figure: `worker transition, ${threads} thread${threads === 1 ? '' : 's'}`,
      measured:
        `orchestration median ${fmt(med('orchestration'), 2)} ms, p99 ${fmt(percentile(orchestration, 99), 2)} ms of ${steps.length} transitions (whole step ${fmt(med('total'), 2)} ms); ` +
        `${fmt(sectorsWanted / seconds, 2)} sectors/s; per step (median ms): ${perStep}`,
      baseline: `processor time, measured: median ${fmt(med('processor'), 2)} ms`,
      ratio: `${fmt(med('orchestration') / 2, 2)}× the target`,
      target: 'orchestration < 2 ms',
      verdict: verdict(med('orchestration'), '<', 2),
    };
  } finally {
    worker.kill();
    manager.kill();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Resident memory per sealing thread: idle threads (the manager hands out no sectors) at 1, 100 and 1000. */
export async function benchWorkerMemory(): Promise<Figure> {
  const home = managerHome(false);
  const manager = await timeUntilReady([MANAGER_BIN, 'daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0'], /"manager up"/);
  const url = (JSON.parse(manager.line) as { url: string }).url;
  try {
    const rss: Record<number, number> = {};
    for (const n of [1, 100, 1000]) {
      const worker = await timeUntilReady([WORKER_BIN, 'daemon', '-c', workerConfig(home, url, n, join(home, `w${n}`))], /"worker up"/);
      await new Promise((r) => setTimeout(r, 2000));
      rss[n] = rssKiB(worker.pid);
      worker.kill();
    }
    const per100 = ((rss[100] as number) - (rss[1] as number)) / 99 / 1024;
    const per1000 = ((rss[1000] as number) - (rss[1] as number)) / 999 / 1024;
    return {
      figure: 'worker RSS per thread',
      measured: `${fmt(per100, 3)} MiB (100 threads: ${fmt((rss[100] as number) / 1024, 1)} MiB), ${fmt(per1000, 3)} MiB (1000: ${fmt((rss[1000] as number) / 1024, 1)} MiB)`,
      baseline: `RSS at 1 thread, ${fmt((rss[1] as number) / 1024, 1)} MiB`,
      ratio: '—',
      target: '< 1 MiB',
      verdict: verdict(Math.max(per100, per1000), '<', 1),
    };
  } finally {
    manager.kill();
    rmSync(home, { recursive: true, force: true });
  }
}
