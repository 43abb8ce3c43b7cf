import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { METHODS, REAL, REAL_CYCLE_S, simulation, THREADS_PER_WORKER, type LoadJob, type LoadResult, type Method } from './fleetPlan.js';
import { fmt, percentile, skipped, timeUntilReady, type BenchOutput, type Figure } from './lib.js';
import { summariseProfile } from './profile.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));
const LOAD = fileURLToPath(new URL('./fleetLoad.ts', import.meta.url));
const P99_LIMIT_MS = 50;
/** Above this event-loop utilisation a generator process is the bottleneck, not the manager. */
const SATURATED_ELU = 0.9;
/** Real threads per generator process: a million real threads make about 2,500 calls a second. */
const REAL_THREADS_PER_GENERATOR = 250_000;
const CLOCK_TICKS = 100;

export interface FleetOptions {
  /** Every N is a number of real sealing threads. */
  maxN: number;
  durationMs: number;
  /** The compression aimed at: N real threads are played by round(N / scale) simulated ones (see `simulation`). */
  scale: number;
  searchSteps: number;
}
export const FLEET_DEFAULTS: FleetOptions = { maxN: 1_000_000, durationMs: 15_000, scale: 600, searchSteps: 2 };

type Store = { kind: 'sqlite' } | { kind: 'postgres'; server: string };
interface Setup {
  label: string;
  store: Store;
  managers: number;
}

interface Point {
  /** Real sealing threads, played by `simulated` threads at `scale`. */
  n: number;
  simulated: number;
  scale: number;
  perSecond: number;
  p50: number;
  p99: number;
  methods: { method: Method; calls: number; p50: number; p99: number }[];
  errors: number;
  unanswered: number;
  firstError: string | null;
  managerRssMiB: number[];
  managerCpuCores: number;
  dbBytesPer1000: number | null;
  allocated: number;
  finished: number;
  generators: number;
  generatorCpu: number;
  generatorElu: number;
  profile: string | null;
}

const withDatabase = (url: string, database: string): string => url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/i, `$1/${database}`);

async function onServer<T>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
function procStat(pid: number): { cpuS: number; rssMiB: number } {
  // Fields after the command (which may hold spaces) start at the state, field 3; utime and stime are 14 and 15.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuS, rssMiB: Number(rss?.[1] ?? 0) / 1024 };
}

/** Bytes the manager's data takes: SQLite's used pages, or PostgreSQL's database size. */
async function databaseBytes(store: Store, where: string): Promise<number> {
  switch (store.kind) {
    case 'sqlite': {
      const db = new Database(where, { readonly: true, fileMustExist: true });
      try {
        const pragma = (name: string): number => db.pragma(name, { simple: true }) as number;
        return (pragma('page_count') - pragma('freelist_count')) * pragma('page_size');
      } finally {
        db.close();
      }
    }
    case 'postgres':
      return Number((await onServer<{ size: string }>(where, 'select pg_database_size(current_database()) as size'))[0]?.size ?? 0);
  }
}

/** Forks `count` generator processes and resolves once each has loaded. */
async function startGenerators(count: number): Promise<ReturnType<typeof fork>[]> {
  return Promise.all(
    Array.from({ length: count }, () => {
      const child = fork(LOAD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Promise<ReturnType<typeof fork>>((resolve, reject) => {
        child.once('message', () => resolve(child));
        child.once('exit', (code) => reject(new Error(`fleet load generator exited ${code} before it was ready`)));
      });
    }),
  );
}

const resultOf = (child: ReturnType<typeof fork>): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m as LoadResult));
    child.once('exit', (code) => reject(new Error(`fleet load generator exited ${code} without a result`)));
  });

/**
 * One point: a devnet (block time scaled), `setup.managers` managers on a fresh database, and N real threads
 * played by simulated ones from enough generator processes; everything is started anew and stopped after.
 */
async function runPoint(setup: Setup, n: number, o: FleetOptions, profile: boolean): Promise<Point> {
  const root = mkdtempSync(join(tmpdir(), 'sealfleet-bench-fleet-'));
  const stops: (() => Promise<void>)[] = [];
  const database = setup.store.kind === 'postgres' ? `sf_bench_fleet_${randomBytes(4).toString('hex')}` : null;
  const sim = simulation(n, o.scale);
  const blockMs = Math.max(10, Math.round((REAL.blockTime * 1000) / sim.scale));
  try {
    mkdirSync(join(root, 'devnet'));
    writeFileSync(join(root, 'devnet', 'devnet.toml'), `[chain]\nblock_time = "${blockMs}ms"\npre_commit_challenge_delay = ${REAL.preCommitChallengeDelay}\n`);
    const devnet = await timeUntilReady([MANAGER_BIN, 'devnet', '--home', join(root, 'devnet'), '--listen', '127.0.0.1:0'], /devnet up/);
    stops.push(async () => devnet.kill());
    const chain = (JSON.parse(devnet.line) as { url: string }).url;
    if (setup.store.kind === 'postgres') await onServer(setup.store.server, `create database ${database}`);
    const dbUrl = setup.store.kind === 'postgres' ? withDatabase(setup.store.server, database as string) : null;
    const profileDir = join(root, 'profile');
    const managers: { pid: number; url: string; home: string }[] = [];
    for (let i = 0; i < setup.managers; i++) {
      const home = join(root, `manager-${i}`);
      mkdirSync(home);
      // The chain is polled once per (scaled) block; the ticket lookback is short because the devnet starts at epoch 0.
      writeFileSync(
        join(home, 'manager.toml'),
        `[chain]\nseal_randomness_lookback = 5\npoll_interval = "${blockMs}ms"\n\n[[miners]]\nid = 1000\nsender = "t0100"\n\n[[persist_stores]]\nname = "local"\npath = "${root}/persist"\n`,
      );
      const node = profile && i === 0 ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
      const m = await timeUntilReady([...node, MANAGER_BIN, 'daemon', '--home', home, '--chain-api', chain, '--listen', '127.0.0.1:0', ...(dbUrl ? ['--db', dbUrl] : [])], /"manager up"/);
      stops.unshift(m.stop);
      managers.push({ pid: m.pid, url: (JSON.parse(m.line) as { url: string }).url, home });
    }
    const first = managers[0] as (typeof managers)[number];
    // One auth domain: the first manager's token is good on all of them (they share the database).
    const token = readFileSync(join(first.home, 'token'), 'utf8').trim();
    const dbWhere = dbUrl ?? join(first.home, 'manager.db');
    const db0 = await databaseBytes(setup.store, dbWhere);

    const workers = Math.ceil(sim.threads / THREADS_PER_WORKER);
    const count = Math.min(4, workers, Math.ceil(n / REAL_THREADS_PER_GENERATOR));
    const generators = await startGenerators(count);
    stops.unshift(async () => generators.forEach((g) => g.kill('SIGKILL')));
    const warmupMs = (REAL_CYCLE_S * 1000) / sim.scale;
    const results = generators.map(resultOf);
    let firstWorker = 0;
    generators.forEach((g, i) => {
      // Whole workers per process: the last takes what is left.
      const share = i === count - 1 ? workers - firstWorker : Math.floor(workers / count);
      const threads = Math.min(share * THREADS_PER_WORKER, sim.threads - firstWorker * THREADS_PER_WORKER);
      const job: LoadJob = { urls: managers.map((m) => m.url), token, threads, firstWorker, scale: sim.scale, warmupMs, durationMs: o.durationMs, store: join(root, 'persist') };
      g.send(job);
      firstWorker += share;
    });
    await new Promise((r) => setTimeout(r, warmupMs));
    const before = managers.map((m) => procStat(m.pid));
    await new Promise((r) => setTimeout(r, o.durationMs));
    const after = managers.map((m) => procStat(m.pid));
    const loads = await Promise.all(results);
    const db1 = await databaseBytes(setup.store, dbWhere);

    let prof: string | null = null;
    if (profile) {
      // The profile is written when the manager exits cleanly.
      for (const s of stops.splice(0)) await s();
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      prof = file ? summariseProfile(JSON.parse(readFileSync(join(profileDir, file), 'utf8'))) : null;
    }

    const all: number[] = [];
    const methods = METHODS.map((method) => {
      const l = loads.flatMap((r) => r.latencies[method]);
      for (const x of l) all.push(x);
      return { method, calls: l.length, p50: l.length ? percentile(l, 50) : 0, p99: l.length ? percentile(l, 99) : 0 };
    }).filter((m) => m.calls > 0);
    const allocated = loads.reduce((s, r) => s + r.allocated, 0);
    return {
      n,
      simulated: sim.threads,
      scale: sim.scale,
      perSecond: loads.reduce((s, r) => s + r.served, 0) / (o.durationMs / 1000),
      p50: all.length ? percentile(all, 50) : Infinity,
      p99: all.length ? percentile(all, 99) : Infinity,
      methods,
      errors: loads.reduce((s, r) => s + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
      unanswered: loads.reduce((s, r) => s + r.unanswered, 0),
      firstError: loads.find((r) => r.firstError)?.firstError ?? null,
      managerRssMiB: after.map((a) => a.rssMiB),
      managerCpuCores: after.reduce((s, a, i) => s + (a.cpuS - (before[i] as { cpuS: number }).cpuS), 0) / (o.durationMs / 1000),
      dbBytesPer1000: allocated ? ((db1 - db0) / allocated) * 1000 : null,
      allocated,
      finished: loads.reduce((s, r) => s + r.finished, 0),
      generators: count,
      generatorCpu: Math.max(...loads.map((r) => r.cpuCores)),
      generatorElu: Math.max(...loads.map((r) => r.elu)),
      profile: prof,
    };
  } finally {
    for (const s of stops) await s();
    if (database && setup.store.kind === 'postgres') await onServer(setup.store.server, `drop database if exists ${database} with (force)`).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

const ok = (p: Point): boolean => p.p99 < P99_LIMIT_MS;
/** A number of real threads in whole real workers of 32. */
const wholeWorkers = (n: number): number => Math.max(THREADS_PER_WORKER, Math.round(n / THREADS_PER_WORKER) * THREADS_PER_WORKER);
const threadsText = (n: number): string => `${n.toLocaleString('en')} real threads`;
/** The scale shown with one decimal only when it is not whole. */
const scaleText = (scale: number): string => (Number.isInteger(scale) ? String(scale) : fmt(scale, 1));
const playedBy = (p: Point): string => `${p.simulated.toLocaleString('en')} simulated at scale ${scaleText(p.scale)}`;
/** The fixed points: 1k, 10k and 100k real threads, those up to --max-n, and --max-n itself below 100k. */
export function fixedPoints(maxN: number): number[] {
  const ns = [1000, 10_000, 100_000].filter((x) => x <= maxN);
  if (maxN < 100_000 && ns[ns.length - 1] !== maxN) ns.push(maxN);
  return ns;
}

/**
 * The fixed points; above them, doubling up to --max-n while the last point passes; then bisection
 * (geometric, in whole real workers) between the largest N whose p99 stayed under 50 ms and the next one,
 * for --search-steps more points. Every N is real threads.
 */
async function runSetup(setup: Setup, o: FleetOptions, profileLargest: boolean): Promise<{ points: Point[]; largest: string }> {
  const points: Point[] = [];
  const measure = async (n: number, why: string, profile: boolean): Promise<Point> => {
    const p = await runPoint(setup, n, o, profile);
    console.error(`fleet ${setup.label} N=${n} real (${playedBy(p)})${why}: ${fmt(p.perSecond, 0)} calls/s, p99 ${fmt(p.p99, 1)} ms`);
    points.push(p);
    return p;
  };
  const fixed = fixedPoints(o.maxN);
  let last: Point | null = null;
  for (const n of fixed) last = await measure(n, '', profileLargest && n === fixed[fixed.length - 1]);
  while (last && ok(last) && last.n < o.maxN) last = await measure(Math.min(last.n * 2, o.maxN), ' (doubling)', false);
  const passing = points.filter(ok);
  let lo = passing.length ? Math.max(...passing.map((p) => p.n)) : 0;
  let hi = points.filter((p) => p.n > lo && !ok(p)).reduce<number | null>((min, p) => (min === null || p.n < min ? p.n : min), null);
  for (let step = 0; hi !== null && step < o.searchSteps; step++) {
    const mid = wholeWorkers(Math.sqrt(Math.max(lo, THREADS_PER_WORKER) * hi));
    if (mid <= lo || mid >= hi) break;
    if (ok(await measure(mid, ' (search)', false))) lo = mid;
    else hi = mid;
  }
  points.sort((x, y) => x.n - y.n);
  const at = (n: number): string => playedBy(points.find((p) => p.n === n) as Point);
  const largest =
    hi === null
      ? `≥ ${threadsText(lo)} (${at(lo)}; every point measured passed, up to --max-n ${o.maxN.toLocaleString('en')})`
      : lo === 0
        ? `< ${threadsText(hi)} (${at(hi)}; no point measured passed)`
        : `${threadsText(lo)} (${at(lo)}); ${threadsText(hi)} failed`;
  return { points, largest };
}

const describe = (p: Point): string =>
  `${fmt(p.perSecond, 0)} calls/s, p50 ${fmt(p.p50, 1)} ms, p99 ${fmt(p.p99, 1)} ms; manager RSS ${p.managerRssMiB.map((r) => fmt(r, 0)).join(' + ')} MiB, CPU ${fmt(p.managerCpuCores, 2)} cores; ` +
  `DB ${p.dbBytesPer1000 === null ? '—' : `${fmt(p.dbBytesPer1000 / 1024 ** 2, 2)} MiB`} per 1,000 sectors; ${p.errors} errors${p.unanswered ? `, ${p.unanswered} calls unanswered 30 s after the window (counted at that age)` : ''}; ` +
  `generator ${p.generators} proc., CPU ${fmt(p.generatorCpu, 2)} cores, event loop ${fmt(p.generatorElu * 100, 0)} %${p.generatorElu > SATURATED_ELU ? ' (SATURATED)' : ''}`;

/**
 * The simulated fleet: N real sealing threads over N/32 workers, played by round(N / scale) simulated ones
 * (real RPC client, the sealer plan's calls with waits divided by the effective scale) against one SQLite manager, one PostgreSQL manager and three, on a devnet.
 */
export async function benchFleet(o: FleetOptions): Promise<BenchOutput> {
  const server = process.env.SEALFLEET_TEST_PG;
  const setups: Setup[] = [
    { label: '1 manager, SQLite', store: { kind: 'sqlite' }, managers: 1 },
    ...(server
      ? [
          { label: '1 manager, PostgreSQL', store: { kind: 'postgres', server } as Store, managers: 1 },
          { label: '3 managers, one PostgreSQL', store: { kind: 'postgres', server } as Store, managers: 3 },
        ]
      : []),
  ];
  const figures: Figure[] = [];
  const details: string[] = [
    `Every N is a number of real sealing threads, over N / ${THREADS_PER_WORKER} real workers. N real threads are played by k = max(1, round(N / ${o.scale})) simulated threads ` +
      `(--scale ${o.scale}) at the effective scale s = N / k: every wait of the model below is divided by s, so each simulated thread calls the manager as often as s real threads ` +
      `and the k together exactly as often as N (N = 1,000 at scale 600: 2 threads at scale 500; a sector's ${fmt(REAL_CYCLE_S / 3600, 1)} h take ${fmt(REAL_CYCLE_S / o.scale, 1)} s at scale ${o.scale}). ` +
      `The simulated threads are grouped ${THREADS_PER_WORKER} to a simulated worker; one of t threads stands for t × s real threads, that is t × s / ${THREADS_PER_WORKER} real workers, each pinging every ` +
      `ping_interval (${REAL.pingInterval} s), so it pings every ${REAL.pingInterval} s × ${THREADS_PER_WORKER} / (t × s) (a full one: ${REAL.pingInterval} s / s) under those workers' names in turn: ` +
      `N / ${THREADS_PER_WORKER} / ${REAL.pingInterval} pings per second in all, from N / ${THREADS_PER_WORKER} worker names, as the real fleet sends. ` +
      `Real-time model: rpc_polling_interval ${REAL.rpcPollingInterval} s; recover_interval ${REAL.recoverInterval} s; stages ${Object.entries(REAL.stages).map(([k, v]) => `${k} ${v} s`).join(', ')}; ` +
      `a ${REAL.blockTime} s block time (the devnet's is divided by s too) and a ${REAL.preCommitChallengeDelay}-epoch seed delay. Per sector a thread makes 16 ReportState and ` +
      `about 12 other calls (more when polls find a message still pending), so its calls wait on about ${fmt(REAL_CYCLE_S / 28 / 60, 0)} real minutes of work or chain between them. ` +
      `Threads start spread over one scaled sector cycle, and each point measures the ${o.durationMs / 1000} s after that. ` +
      `Points: 1k, 10k and 100k real threads; above, doubling up to --max-n (${o.maxN.toLocaleString('en')}) while p99 stays under ${P99_LIMIT_MS} ms; then ${o.searchSteps} more point${o.searchSteps === 1 ? '' : 's'} bisecting ` +
      `between the largest N that passed and the next that failed. Calls run through the worker's ManagerClient, each simulated worker with a keep-alive pool of its own (up to 64 connections per manager).`,
    '',
  ];
  for (const setup of setups) {
    const { points, largest } = await runSetup(setup, o, setup === setups[0]);
    for (const p of points) {
      figures.push({
        figure: `fleet: ${setup.label}, N = ${threadsText(p.n)} (${playedBy(p)})`,
        measured: describe(p),
        baseline: '—',
        ratio: '—',
        target: `p99 < ${P99_LIMIT_MS} ms`,
        verdict: ok(p) ? 'met' : 'not met',
      });
    }
    figures.push({
      figure: `fleet: ${setup.label}, largest N (real threads) with p99 < ${P99_LIMIT_MS} ms`,
      measured: largest,
      baseline: '—',
      ratio: '—',
      target: '—',
      verdict: '—',
    });
    details.push(`### ${setup.label}`, '', '| N (real threads) | simulated at scale | method | calls | p50 ms | p99 ms |', '|---|---|---|---|---|---|');
    for (const p of points) for (const m of p.methods) details.push(`| ${p.n} | ${p.simulated} at ${scaleText(p.scale)} | ${m.method} | ${m.calls} | ${fmt(m.p50, 2)} | ${fmt(m.p99, 2)} |`);
    details.push('');
    for (const p of points) {
      details.push(`N = ${threadsText(p.n)} (${playedBy(p)}): ${p.allocated} sectors allocated, ${p.finished} finished during the point${p.firstError ? `; first error: ${p.firstError}` : ''}.`, '');
      if (p.profile) details.push(`Where the manager's time goes at N = ${threadsText(p.n)} (CPU profile, \`--cpu-prof\`, self time):`, '', p.profile, '');
    }
  }
  if (!server) {
    figures.push(skipped('fleet: PostgreSQL, 1 and 3 managers', 'SEALFLEET_TEST_PG is not set (the URL of a PostgreSQL server to create bench databases on)'));
  }
  return { figures, details: details.join('\n') };
}
