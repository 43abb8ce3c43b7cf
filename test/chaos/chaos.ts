import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import type { SectorPieceV2 } from '../../src/core/wire/sealer.js';
import { MANAGER_EVENT_SOURCE } from '../../src/manager/sectors/store.js';
import type { ThreadEvent, WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import { startFleetDevnet, startFleetManager, startFleetWorker, writeFleetWorkerConfig, type FleetManager, type FleetManagerOptions, type FleetWorker } from '../fleet/cluster.js';
import { createFleet, netemUnavailable, type Fleet, type FleetHost } from '../fleet/netns.js';
import { devnetMinerMessages } from '../helpers/devnet.js';
import { fillDisk, mountTmpfs } from '../helpers/disk.js';
import { eventually } from '../helpers/manager.js';
import { onPg, withDatabase } from '../helpers/postgres.js';
import { tempDir, type Spawned } from '../helpers/processes.js';
import { renderTable } from '../../src/cli/table.js';
import { mulberry32 } from '../helpers/random.js';
import { WORKER_BIN } from '../helpers/worker.js';

/**
 * The chaos run: a devnet, managers and three workers on hosts of their own, sealing while a seeded driver
 * kills processes, cuts links, shapes traffic and fills a worker's disk; then checks that nothing was lost or
 * done twice.
 */

export type ChaosStore = 'sqlite' | 'postgres';

export interface ChaosOptions {
  seed: number;
  short: boolean;
  store: ChaosStore;
  /** The PostgreSQL server to create the managers' database on (with `store: 'postgres'`). */
  pgServer?: string;
  /** Progress lines. */
  log(line: string): void;
}

export const FAULTS = ['kill-worker', 'kill-manager', 'kill-devnet', 'cut-link', 'netem', 'disk-full'] as const;
export type Fault = (typeof FAULTS)[number];

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, 'log' | 'pgServer'>;
  faults: Record<Fault, number>;
  /** Paused threads the driver resumed, as an operator would once the cause was gone. */
  resumed: number;
  /** Why netem was not used, or null. */
  netemSkipped: string | null;
  finished: number;
  aborted: number;
  seconds: number;
  checks: CheckResult[];
}

const SIZES = {
  short: { sectors: 100, faults: 10, pieces: 8, threads: 8 },
  long: { sectors: 200, faults: 40, pieces: 24, threads: 8 },
} as const;
const WORKERS = ['w1', 'w2', 'w3'] as const;
/** Threads of each worker that take deal pieces. */
const DEAL_THREADS = 2;
/**
 * A worker's own disk: its config, thread state and sealing files, on a tmpfs this small (each thread's
 * state database alone takes up to 4 MiB with its write-ahead log).
 */
const WORKER_DISK = '64m';
/** Waits for the fleet to settle after the chaos (two loaded cores). */
const SETTLE = 300_000;

/** The managers' database: its rows, read the same way on SQLite and PostgreSQL. */
interface ManagerDb {
  query<R>(sql: string): Promise<R[]>;
  drop(): Promise<void>;
}

function sqliteDb(file: string): ManagerDb {
  return {
    query: async <R>(sql: string) => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare(sql).all() as R[];
      } finally {
        db.close();
      }
    },
    drop: async () => undefined,
  };
}

async function postgresDb(server: string): Promise<{ db: ManagerDb; url: string }> {
  const name = `sf_chaos_${randomBytes(6).toString('hex')}`;
  await onPg((c) => c.query(`create database ${name}`), server);
  const url = withDatabase(server, name);
  return {
    url,
    db: {
      query: <R>(sql: string) => onPg(async (c) => (await c.query(sql)).rows as R[], url),
      drop: async () => {
        await onPg((c) => c.query(`drop database if exists ${name} with (force)`), server);
      },
    },
  };
}

interface SectorRow {
  number: string | number;
  status: string;
  latest_state: string | null;
  abort_reason: string | null;
  pieces: string | null;
}

interface EventRow {
  number: string | number;
  worker_instance: string | null;
  prev: string | null;
  next: string | null;
  event: string | null;
  failure_level: string | null;
}

/**
 * Consecutive events of one sector that do not join: an event whose start is not where the one before ended.
 * A move repeated right after itself is one move delivered twice, not a hole: a manager logs a move the same
 * worker sends again once, but two managers each handed a copy at the same moment both log theirs.
 */
function gaps<E>(events: E[], from: (e: E) => string | null, to: (e: E) => string | null, name: (e: E) => string): string[] {
  const out: string[] = [];
  for (let i = 1; i < events.length; i++) {
    const [before, e] = [events[i - 1] as E, events[i] as E];
    const repeated = from(e) === from(before) && to(e) === to(before);
    if (from(e) !== to(before) && !repeated) out.push(`${from(before)} -${name(before)}→ ${to(before)}, then ${from(e)} -${name(e)}→ ${to(e)}`);
  }
  return out;
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const size = opts.short ? SIZES.short : SIZES.long;
  const rng = mulberry32(opts.seed);
  const between = (lo: number, hi: number): number => Math.round(lo + rng() * (hi - lo));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)] as T;
  const log = (line: string) => opts.log(`chaos ${Math.round((Date.now() - began) / 1000)}s: ${line}`);

  const netemSkipped = await netemUnavailable();
  if (netemSkipped !== null) log(`${netemSkipped}: netem faults skipped`);
  const kinds = FAULTS.filter((f) => f !== 'netem' || netemSkipped === null);

  const root = tempDir('chaos');
  const dirs = { persist: join(root, 'persist'), pieces: join(root, 'pieces'), imports: join(root, 'imports') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const workerDirs = WORKERS.map((w) => join(root, w));
  const unmount: (() => Promise<void>)[] = [];
  const managerNames = opts.store === 'postgres' ? ['m1', 'm2'] : ['m1'];
  let fleet: Fleet | undefined;
  let managerDb: { db: ManagerDb; url: string | null } | undefined;
  try {
    for (const dir of workerDirs) unmount.push(await mountTmpfs(dir, WORKER_DISK));
    fleet = await createFleet([{ name: 'chain' }, ...managerNames.map((name) => ({ name })), ...WORKERS.map((name) => ({ name }))]);
    const f = fleet;
    const hosts = [...f.hosts.values()];

    const devnetHome = join(root, 'devnet');
    let devnet = await startFleetDevnet(f.host('chain'), devnetHome);
    switch (opts.store) {
      case 'sqlite':
        managerDb = { db: sqliteDb(join(root, 'm1', 'manager.db')), url: null };
        break;
      case 'postgres': {
        if (!opts.pgServer) throw new Error('the PostgreSQL form needs a server (SEALFLEET_TEST_PG)');
        managerDb = await postgresDb(opts.pgServer);
        break;
      }
    }
    const db = managerDb.db;
    const managerOpts: FleetManagerOptions = {
      stores: [{ name: 'persist', path: dirs.persist }],
      importDir: dirs.imports,
      cluster: { chainApi: devnet.url, db: managerDb.url },
      pieces: [`dir = ${JSON.stringify(dirs.pieces)}`],
      // Allocations whose answer died with a manager are released soon, so the run can end.
      toml: '[sectors]\norphan_after = "4s"\n',
    };
    const managerRuns: Spawned[] = [];
    const startManager = async (name: string): Promise<FleetManager> => {
      const m = await startFleetManager(f.host(name), join(root, name), managerOpts);
      managerRuns.push(m.daemon);
      return m;
    };
    // The first creates the cluster; the second joins it.
    const managers: FleetManager[] = [];
    for (const name of managerNames) managers.push(await startManager(name));
    const first = managers[0] as FleetManager;

    const pieces: string[] = [];
    for (let p = 0; p < size.pieces; p++) {
      const file = join(dirs.imports, `deal-${p}`);
      writeFileSync(file, randomBytes(1000));
      const r = await managers[p % managers.length]?.util('deals', 'import', file);
      if (r?.code !== 0) throw new Error(`deals import ${file} exited ${r?.code}: ${r?.stderr.trim()}`);
      pieces.push(r.stdout.split(/\s+/)[0] ?? '');
    }

    const configs: string[] = [];
    const workers: FleetWorker[] = [];
    for (const [i, name] of WORKERS.entries()) {
      const config = await writeFleetWorkerConfig(first, {
        name,
        dir: workerDirs[i] as string,
        managers: i % 2 === 0 ? managers : [...managers].reverse(),
        threads: Array.from({ length: size.threads }, (_, k) => ({ plan: 'sealer', sealing: k < DEAL_THREADS ? ['sealing.enable_deals = true'] : [] })),
        attached: [{ name: 'persist', location: dirs.persist }],
        // Enough retries to ride out a restart or a cut link; a full disk may still exhaust them.
        sealing: ['max_retries = 8'],
        // Steps long enough that kills land inside them.
        mock: ['stage_time = "200ms"', 'stage_times.pc1 = "3s"', 'stage_times.c2 = "1s"'],
      });
      configs.push(config);
      workers.push(await startFleetWorker(f.host(name), config));
    }
    log(`fleet up: devnet, ${managers.length} manager(s) on ${opts.store}, ${WORKERS.length} workers × ${size.threads} threads, ${pieces.length} deal pieces`);

    const finalized = async (): Promise<number> => Number((await db.query<{ n: string | number }>("select count(*) as n from sectors where status = 'finalized'"))[0]?.n ?? 0);
    const faults = Object.fromEntries(FAULTS.map((k) => [k, 0])) as Record<Fault, number>;
    let resumed = 0;
    const pausedWithoutError: string[] = [];

    /** What an operator does with a paused thread once its cause is gone: reads its error, then resumes it. */
    const resumePaused = async (): Promise<number> => {
      let paused = 0;
      for (const [i, w] of workers.entries()) {
        const threads: WorkerThreadInfo[] = await eventually(`${WORKERS[i]} lists its threads`, () => w.list(), SETTLE);
        for (const t of threads.filter((x) => x.thread_state.state === 'Paused')) {
          paused++;
          if (!t.last_error) pausedWithoutError.push(`${WORKERS[i]} #${t.index} paused in ${t.job_state} (${t.job_id ?? 'no sector'}) with no error`);
          const r = await w.host.run(WORKER_BIN, ['worker', '-c', configs[i] as string, 'resume', '-i', String(t.index)]);
          if (r.code === 0) {
            resumed++;
            log(`resumed ${WORKERS[i]} #${t.index} (${t.job_id}, ${t.job_state}) paused with: ${t.last_error ?? '(none)'}`);
          }
        }
      }
      return paused;
    };

    const apply = async (fault: Fault): Promise<string> => {
      switch (fault) {
        case 'kill-worker': {
          const i = Math.floor(rng() * workers.length);
          await workers[i]?.daemon.kill('SIGKILL');
          await sleep(between(0, 2000));
          workers[i] = await startFleetWorker(f.host(WORKERS[i] as string), configs[i] as string);
          return WORKERS[i] as string;
        }
        case 'kill-manager': {
          const i = Math.floor(rng() * managers.length);
          await managers[i]?.daemon.kill('SIGKILL');
          await sleep(between(0, 3000));
          managers[i] = await startManager(managerNames[i] as string);
          return managerNames[i] as string;
        }
        case 'kill-devnet':
          await devnet.daemon.kill('SIGKILL');
          await sleep(between(0, 3000));
          devnet = await startFleetDevnet(f.host('chain'), devnetHome);
          return 'devnet';
        case 'cut-link': {
          const h: FleetHost = pick(hosts);
          await h.linkDown();
          await sleep(between(2000, 6000));
          await h.linkUp();
          return h.name;
        }
        case 'netem': {
          const h: FleetHost = pick(hosts);
          await h.netem(['loss', `${between(5, 30)}%`, 'delay', `${between(10, 80)}ms`]);
          await sleep(between(3000, 8000));
          await h.netem(null);
          return h.name;
        }
        case 'disk-full': {
          const i = Math.floor(rng() * workers.length);
          const free = fillDisk(workerDirs[i] as string);
          await sleep(between(2000, 5000));
          free();
          return WORKERS[i] as string;
        }
      }
    };

    // Every kind of fault once, in a seeded order, then seeded picks until there were enough faults and enough
    // sectors are sealed.
    const order = [...kinds];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [order[i], order[j]] = [order[j] as Fault, order[i] as Fault];
    }
    let done = await finalized();
    for (let n = 0; n < Math.max(order.length, size.faults) || done < size.sectors; n++) {
      await sleep(between(500, 3000));
      const fault = order[n] ?? pick(kinds);
      const target = await apply(fault);
      faults[fault]++;
      const paused = await resumePaused();
      done = await finalized();
      log(`${fault} ${target}${paused ? `, ${paused} paused thread(s) resumed` : ''}; ${done}/${size.sectors} sectors finalized`);
      if (Date.now() - began > (opts.short ? 20 : 90) * 60_000) throw new Error(`only ${done} of ${size.sectors} sectors finalized after ${Math.round((Date.now() - began) / 60_000)} minutes of chaos`);
    }

    log('chaos over: draining the workers');
    for (const w of workers) await w.drain();
    let undrained: string[] = [];
    await eventually('every thread drained', async () => {
      await resumePaused();
      const lists = await Promise.all(workers.map((w) => w.list()));
      undrained = lists.flatMap((threads, i) => threads.filter((t) => t.job_stage !== 'Drained').map((t) => `${WORKERS[i]} #${t.index} ${t.thread_state.state} ${t.job_id} ${t.job_state}: ${t.last_error ?? 'no error'}`));
      return undrained.length === 0 ? true : undefined;
    }, SETTLE).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; still working: ${undrained.join('; ')}`);
    });
    await eventually('no sector left sealing', async () => ((await db.query("select 1 from sectors where status = 'sealing'")).length === 0 ? true : undefined), SETTLE);
    log('drained: checking');

    const checks: CheckResult[] = [];
    const check = (name: string, problems: string[], fine: string) => checks.push({ name, ok: problems.length === 0, detail: problems.length === 0 ? fine : `${problems.length}: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}` });

    const sectors = await db.query<SectorRow>('select number, status, latest_state, abort_reason, pieces from sectors where miner = 1000 order by number');
    const finished = sectors.filter((s) => s.status === 'finalized');
    const aborted = sectors.filter((s) => s.status !== 'finalized');
    const orphan = (s: SectorRow) => s.status === 'aborted' && (s.abort_reason ?? '').startsWith('orphaned: ') && s.latest_state === null;
    check(
      'every sector Finished or deliberately Aborted',
      [...(finished.length < size.sectors ? [`only ${finished.length} of ${size.sectors} finalized`] : []), ...aborted.filter((s) => !orphan(s)).map((s) => `sector ${s.number} ${s.status} in ${s.latest_state}: ${s.abort_reason}`)],
      `${finished.length} finalized, ${aborted.length} orphaned allocations released`,
    );

    const allocated = managerRuns.flatMap((d) =>
      d
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"sector allocated"'))
        .map((l) => (JSON.parse(l) as { sector: string }).sector),
    );
    const numbers = sectors.map((s) => Number(s.number));
    const known = new Set(sectors.map((s) => `s-t01000-${s.number}`));
    check(
      'no sector number allocated twice',
      [
        ...allocated.filter((id, i) => allocated.indexOf(id) !== i).map((id) => `${id} allocated twice`),
        ...numbers.filter((n, i) => numbers.indexOf(n) !== i).map((n) => `number ${n} has two rows`),
        ...allocated.filter((id) => !known.has(id)).map((id) => `${id} allocated but not in the database`),
      ],
      `${allocated.length} allocations logged by ${managerRuns.length} manager runs, ${numbers.length} numbers, all distinct`,
    );

    const pieceRows = await db.query<{ cid: string; status: string; sector_number: string | number | null }>('select cid, status, sector_number from pieces');
    const holders = new Map<string, number[]>();
    for (const s of sectors) {
      for (const p of JSON.parse(s.pieces ?? '[]') as SectorPieceV2[]) holders.set(p.Piece.PieceCID['/'], [...(holders.get(p.Piece.PieceCID['/']) ?? []), Number(s.number)]);
    }
    const finishedNumbers = new Set(finished.map((s) => Number(s.number)));
    check(
      'no piece sealed twice or lost',
      pieces.flatMap((cid) => {
        const row = pieceRows.find((p) => p.cid === cid);
        const held = holders.get(cid) ?? [];
        if (!row) return [`${cid} imported but not in the database`];
        if (row.status !== 'sealed') return [`${cid} is ${row.status}`];
        if (held.length !== 1 || held[0] !== Number(row.sector_number) || !finishedNumbers.has(held[0])) return [`${cid} (row: sector ${row.sector_number}) is in sectors ${held.join(', ') || 'none'}`];
        return [];
      }),
      `${pieces.length} pieces, each sealed in exactly one finished sector`,
    );

    const messages = devnetMinerMessages(devnetHome);
    const chainProblems: string[] = [];
    for (const kind of ['precommit', 'prove'] as const) {
      const carrying = new Map<number, string[]>();
      for (const m of messages.filter((x) => x.kind === kind)) for (const n of m.sectors) carrying.set(n, [...(carrying.get(n) ?? []), `${m.cid} (exit ${m.exitCode})`]);
      for (const s of sectors) {
        const sent = carrying.get(Number(s.number)) ?? [];
        const want = s.status === 'finalized' ? 1 : 0;
        if (sent.length !== want) chainProblems.push(`sector ${s.number} (${s.status}): ${sent.length} ${kind} messages ${sent.join(', ')}`);
      }
    }
    check('no chain message sent twice for one sector', chainProblems, `${messages.filter((m) => m.kind === 'precommit').length} pre-commit and ${messages.filter((m) => m.kind === 'prove').length} prove messages, one of each per finished sector`);

    const events = await db.query<EventRow>('select number, worker_instance, prev, next, event, failure_level from sector_events where miner = 1000 order by id');
    const logProblems: string[] = [];
    for (const s of sectors) {
      const own = events.filter((e) => Number(e.number) === Number(s.number));
      // Two streams: the manager's own lifecycle moves, and the moves the worker reported.
      for (const [stream, rows] of [['lifecycle', own.filter((e) => e.worker_instance === MANAGER_EVENT_SOURCE)], ['reported', own.filter((e) => e.worker_instance !== MANAGER_EVENT_SOURCE)]] as const) {
        for (const g of gaps(rows, (e) => e.prev, (e) => e.next, (e) => (e.failure_level ? `${e.event}/${e.failure_level}` : (e.event ?? '')))) logProblems.push(`manager (${stream}), sector ${s.number}: ${g}`);
      }
    }
    let workerRows = 0;
    for (const [i, w] of workers.entries()) {
      for (let index = 0; index < size.threads; index++) {
        const r = await w.host.run(WORKER_BIN, ['worker', '-c', configs[i] as string, 'log', '-i', String(index), '-n', '10000', '--json']);
        if (r.code !== 0) {
          logProblems.push(`${WORKERS[i]} #${index}: worker log exited ${r.code}: ${r.stderr.trim()}`);
          continue;
        }
        const rows = JSON.parse(r.stdout) as ThreadEvent[];
        workerRows += rows.length;
        for (const id of new Set(rows.map((e) => e.sector).filter((x) => x !== null))) {
          for (const g of gaps(rows.filter((e) => e.sector === id), (e) => e.from, (e) => e.to, (e) => (e.level ? `${e.event}/${e.level}` : e.event))) logProblems.push(`${WORKERS[i]} #${index}, ${id}: ${g}`);
        }
      }
    }
    check('every sector event log continuous on manager and worker', logProblems, `${events.length} manager events, ${workerRows} worker thread events`);

    const finalThreads = (await Promise.all(workers.map((w) => w.list()))).flatMap((threads, i) =>
      threads.filter((t) => t.thread_state.state === 'Paused' && !t.last_error).map((t) => `${WORKERS[i]} #${t.index} left paused with no error`),
    );
    check('no thread left paused without an error an operator can act on', [...pausedWithoutError, ...finalThreads], `${resumed} paused threads resumed, each with its error`);

    return {
      options: { seed: opts.seed, short: opts.short, store: opts.store },
      faults,
      resumed,
      netemSkipped,
      finished: finished.length,
      aborted: aborted.length,
      seconds: Math.round((Date.now() - began) / 1000),
      checks,
    };
  } finally {
    await fleet?.cleanup();
    await managerDb?.db.drop().catch(() => undefined);
    for (const u of unmount) await u().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

/** The command that replays a run. */
export const replayCommand = (o: Pick<ChaosOptions, 'seed' | 'short' | 'store'>): string => `npm run chaos -- --seed ${o.seed}${o.short ? ' --short' : ''} --store ${o.store}`;

/** The closing table: what was killed or cut how often, then each check and its result. */
export function renderReport(r: ChaosReport): string {
  const faultRows = FAULTS.map((k) => [k, k === 'netem' && r.netemSkipped !== null ? 'skipped' : r.faults[k]]);
  const head = `chaos run: seed ${r.options.seed}, ${r.options.short ? 'short' : 'long'} form, ${r.options.store}; ${r.finished} sectors finalized, ${r.aborted} aborted, in ${r.seconds} s\n`;
  return (
    head +
    renderTable(['Fault', 'Times'], [...faultRows, ['paused threads resumed', r.resumed]]) +
    '\n' +
    renderTable(['Check', 'Result', 'Detail'], r.checks.map((c) => [c.name, c.ok ? 'ok' : 'FAILED', c.detail]))
  );
}
