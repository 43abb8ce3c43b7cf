import { sql } from 'kysely';
import { z } from 'zod';
import { idAddress } from '../../chain/address.js';
import type { LotusClient } from '../../chain/client.js';
import { getPlan, planStates } from '../../core/plans/index.js';
import { RPC_CODES, RpcError } from '../../core/rpc/errors.js';
import { callerMethod, method, type MethodDef } from '../../core/rpc/server.js';
import { labelString, nameString } from '../../core/wire/bounds.js';
import {
  PING_EXPIRED_MS,
  SLOW_FACTOR,
  SLOW_FLOOR_MS,
  SLOW_MIN_SAMPLES,
  TICKET_WARN_SHARE,
  type AttentionItem,
  type ChainView,
  type DashboardSession,
  type Overview,
  type Pipeline,
  type SectorView,
  type ThreadSummary,
  type TroubledThread,
  type WorkerRow,
  type WorkerView,
} from '../../core/wire/dashboard.js';
import { SectorID } from '../../core/wire/sealer.js';
import { THREAD_LOG_MAX, type WorkerThreadInfo } from '../../core/wire/workerControl.js';
import type { ManagerConfig } from '../config.js';
import { durationStats, sectorStays, slowAfter } from '../dashboard/stays.js';
import type { WorkerRelay } from '../dashboard/workerRelay.js';
import type { ManagerDb } from '../db/open.js';
import { sectorKey, type SectorStore } from '../sectors/store.js';
import type { WorkerPingRow } from '../workers/registry.js';
import { event, LIST_DEFAULT, LIST_MAX, sectorDetail } from './admin.js';

/** The latest sector events the duration figures are computed from: enough history, bounded work per call. */
const EVENTS_WINDOW = 20_000;
/** How long the overview waits for one worker's thread list before listing it as unreachable. */
const OVERVIEW_WORKER_WAIT_MS = 3_000;
/** How long the sector page waits for the worker that holds the sector. */
const SECTOR_WORKER_WAIT_MS = 5_000;
const HOUR_MS = 3_600_000;

const ThreadIndex = z.number().int().nonnegative().max(65_535);
const OverviewOptions = z
  .object({
    PingExpireMs: z.number().int().positive().optional(),
    SlowFactor: z.number().positive().max(1000).optional(),
    SlowFloorMs: z.number().int().nonnegative().optional(),
  })
  .optional();

export interface DashboardDeps {
  db: ManagerDb;
  records: SectorStore;
  relay: WorkerRelay;
  lotus: LotusClient;
  config: ManagerConfig;
  messageCid: (id: string | null) => Promise<string | null>;
}

function workerRow(w: WorkerPingRow, now: number, expireMs: number): WorkerRow {
  const lastPing = Number(w.last_ping);
  return { Name: w.name, Dest: w.dest, Version: w.version, LastPing: lastPing, PingAgeMs: now - lastPing, Expired: now - lastPing > expireMs, Summary: JSON.parse(w.summary) as ThreadSummary };
}

const paused = (t: WorkerThreadInfo): boolean => t.thread_state.state === 'Paused';

/**
 * The dashboard's reads (`read`) and the worker actions it offers (`admin`, as `util worker pause` needs:
 * the manager signs a control token for the worker, which only an admin may have it do). Each answers one
 * whole view, so a page is one call per refresh.
 */
export function dashboardMethods(d: DashboardDeps): Record<string, MethodDef> {
  const groupCount = <K extends 'status' | 'plan' | 'latest_state' | 'stage'>(keys: K[]) =>
    d.db.selectFrom('sectors').select([...keys, (eb) => eb.fn.countAll<number>().as('n')]).groupBy(keys).execute();

  const threadsOf = async (name: string) => {
    const worker = await d.relay.find(name);
    return { worker, threads: await d.relay.call(worker, (c) => c.list()) };
  };
  const threadOf = async (name: string, index: number) => {
    const { worker, threads } = await threadsOf(name);
    const thread = threads.find((t) => t.index === index);
    if (!thread) throw new RpcError(RPC_CODES.Application, `worker ${worker.name} has no thread #${index} (threads: ${threads.map((t) => t.index).join(', ') || 'none'})`);
    return { worker, thread };
  };

  const table: Record<string, MethodDef> = {
    DashboardSession: callerMethod([], (caller): DashboardSession => ({ Perm: caller.perm, Worker: caller.worker })),

    DashboardOverview: method([OverviewOptions], async (o): Promise<Overview> => {
      const now = Date.now();
      const pings = await d.db.selectFrom('worker_pings').selectAll().orderBy('name').limit(LIST_MAX).execute();
      const workers = pings.map((w) => workerRow(w, now, o?.PingExpireMs ?? PING_EXPIRED_MS));
      const threads: ThreadSummary = { Threads: 0, Empty: 0, Paused: 0, Running: 0, Waiting: 0, Errors: 0 };
      for (const w of workers) for (const k of Object.keys(threads) as (keyof ThreadSummary)[]) threads[k] += Number(w.Summary[k] ?? 0);
      const sectors = { sealing: 0, finalized: 0, aborted: 0 };
      for (const row of await groupCount(['status'])) sectors[row.status] = Number(row.n);

      const attention: AttentionItem[] = workers
        .filter((w) => w.Expired)
        .map((w) => ({ Kind: 'expired-ping', Worker: w.Name, Thread: null, Sector: null, Since: w.LastPing, Text: `no ping from ${w.Name} (${w.Dest}) since ${new Date(w.LastPing).toISOString()}` }));
      // Only workers whose last ping counted paused or failing threads are asked for them.
      const asked = pings.filter((_, i) => !workers[i]?.Expired && (workers[i]?.Summary.Paused ?? 0) + (workers[i]?.Summary.Errors ?? 0) > 0);
      const troubled = await troubledThreads(d.relay, asked, now, attention);
      attention.push(...(await slowSectors(d, now, { factor: o?.SlowFactor ?? SLOW_FACTOR, floorMs: o?.SlowFloorMs ?? SLOW_FLOOR_MS, minSamples: SLOW_MIN_SAMPLES })));
      attention.push(...(await expiringTickets(d)));
      return { Now: now, Workers: workers, Threads: threads, Sectors: sectors, Troubled: troubled, Attention: attention, FinishedPerHour: await finishedPerHour(d.db, now) };
    }),

    DashboardPipeline: method([], async (): Promise<Pipeline> => {
      const stays = sectorStays(await recentEvents(d.db));
      return {
        Now: Date.now(),
        ByState: (await groupCount(['plan', 'latest_state'])).map((r) => ({ Plan: r.plan, State: r.latest_state ?? '-', Count: Number(r.n) })),
        ByStage: (await groupCount(['plan', 'stage'])).map((r) => ({ Plan: r.plan, Stage: r.stage, Count: Number(r.n) })),
        Durations: [...stays.completed].map(([state, list]) => durationStats(state, list)).sort((a, b) => a.State.localeCompare(b.State)),
      };
    }),

    DashboardSector: method([SectorID], async (id): Promise<SectorView> => {
      const r = await d.records.require(id);
      const { Pieces: _pieces, Ticket: _ticket, PreCommit: _pre, Seed: _seed, Upgrade: _upgrade, Orphaned: _orphaned, ...record } = await sectorDetail(r, d.messageCid);
      const events = (await d.records.events(id, LIST_DEFAULT)).map(event);
      const view: SectorView = {
        Record: record,
        Events: events.map((e, i) => ({ ...e, TookMs: i === 0 ? null : e.At - (events[i - 1]?.At ?? e.At) })),
        Thread: null,
        ThreadLog: [],
        WorkerError: null,
        Chain: await chainView(d.lotus, id),
        Actions: [...(r.status === 'sealing' ? (['abort'] as const) : []), ...(r.stage === 'finalized' ? (['rebuild'] as const) : [])],
      };
      if (r.worker_instance === null) return view;
      try {
        const worker = await d.relay.find(r.worker_instance);
        const threads = await d.relay.within(SECTOR_WORKER_WAIT_MS, worker, (c) => c.list());
        const key = sectorKey(id);
        // The thread holding it now, or else the one that reported it last (its log still has the sector's rows).
        const holder = threads.find((t) => t.job_id === key);
        const thread = holder ?? threads.find((t) => t.location === r.worker_location);
        if (holder) view.Thread = { Worker: worker.name, Index: holder.index, Paused: paused(holder) };
        if (thread) view.ThreadLog = (await d.relay.within(SECTOR_WORKER_WAIT_MS, worker, (c) => c.log(thread.index, THREAD_LOG_MAX))).filter((row) => row.sector === key);
      } catch (err) {
        view.WorkerError = (err as Error).message;
      }
      return view;
    }),

    DashboardWorker: method([nameString], async (name): Promise<WorkerView> => {
      const { worker, threads } = await threadsOf(name);
      return {
        Worker: workerRow(worker, Date.now(), PING_EXPIRED_MS),
        Threads: threads.map((t) => ({ ...t, ResumeStates: planStates(getPlan(t.plan)) })),
      };
    }),

    DashboardThreadLog: method([nameString, ThreadIndex, z.number().int().min(1).max(THREAD_LOG_MAX).optional()], async (name, index, limit) => {
      const worker = await d.relay.find(name);
      return d.relay.call(worker, (c) => c.log(index, limit ?? 200));
    }),

    WorkerPause: method(
      [nameString, ThreadIndex],
      async (name, index) => {
        const worker = await d.relay.find(name);
        return { Worker: worker.name, Index: index, Requested: await d.relay.call(worker, (c) => c.pause(index)) };
      },
      'admin',
    ),

    WorkerResume: method(
      [nameString, ThreadIndex, labelString.min(1, 'expected a state name').nullable()],
      async (name, index, state) => {
        const { worker, thread } = await threadOf(name, index);
        const states = planStates(getPlan(thread.plan));
        if (state !== null && !(states as string[]).includes(state)) {
          throw new RpcError(RPC_CODES.InvalidParams, `invalid state "${state}" for thread #${index} of ${worker.name}: its plan ${thread.plan} has ${states.join(', ')}`);
        }
        await d.relay.call(worker, (c) => c.resume(index, state));
        return { Worker: worker.name, Index: index, State: state };
      },
      'admin',
    ),

    WorkerDrain: method(
      [nameString, ThreadIndex.nullable()],
      async (name, index) => {
        const worker = await d.relay.find(name);
        return { Worker: worker.name, Index: index, Draining: await d.relay.call(worker, (c) => c.drain(index)) };
      },
      'admin',
    ),
  };
  return Object.fromEntries(Object.entries(table).map(([name, def]) => [`SealFleet.${name}`, def]));
}

/**
 * The paused and failing threads of `workers`, each asked for at most OVERVIEW_WORKER_WAIT_MS; adds a paused
 * thread, or a worker that did not answer, to `attention`.
 */
async function troubledThreads(relay: WorkerRelay, workers: WorkerPingRow[], now: number, attention: AttentionItem[]): Promise<TroubledThread[]> {
  const troubled: TroubledThread[] = [];
  await Promise.all(
    workers.map(async (w) => {
      try {
        for (const t of await relay.within(OVERVIEW_WORKER_WAIT_MS, w, (c) => c.list())) {
          if (!paused(t) && t.last_error === null) continue;
          troubled.push({ Worker: w.name, Index: t.index, Plan: t.plan, Sector: t.job_id, State: t.job_state, Paused: paused(t), LastError: t.last_error });
          if (!paused(t)) continue;
          const since = t.thread_state.elapsed === undefined ? null : now - t.thread_state.elapsed * 1000;
          attention.push({ Kind: 'paused-thread', Worker: w.name, Thread: t.index, Sector: t.job_id, Since: since, Text: `paused in ${t.job_state || 'Empty'}: ${t.last_error ?? 'no error recorded'}` });
        }
      } catch (err) {
        attention.push({ Kind: 'worker-unreachable', Worker: w.name, Thread: null, Sector: null, Since: null, Text: (err as Error).message });
      }
    }),
  );
  return troubled.sort((a, b) => a.Worker.localeCompare(b.Worker) || a.Index - b.Index);
}

const recentEvents = async (db: ManagerDb) => (await db.selectFrom('sector_events').selectAll().orderBy('id', 'desc').limit(EVENTS_WINDOW).execute()).reverse();

/** Sealing sectors whose current stay is far longer than stays in that state usually are (see `slowAfter`). */
async function slowSectors(d: DashboardDeps, now: number, opts: { factor: number; floorMs: number; minSamples: number }): Promise<AttentionItem[]> {
  const stays = sectorStays(await recentEvents(d.db));
  const sealing = await d.db.selectFrom('sectors').select(['miner', 'number', 'worker_instance']).where('status', '=', 'sealing').limit(LIST_MAX).execute();
  const items: AttentionItem[] = [];
  for (const s of sealing) {
    const stay = stays.open.get(`${s.miner}/${s.number}`);
    if (!stay) continue;
    const limit = slowAfter(stays.completed.get(stay.state), opts);
    if (limit === null || now - stay.since <= limit) continue;
    const usual = limit / opts.factor;
    items.push({
      Kind: 'slow-sector',
      Worker: s.worker_instance,
      Thread: null,
      Sector: sectorKey({ Miner: Number(s.miner), Number: Number(s.number) }),
      Since: stay.since,
      Text: `in ${stay.state} for ${Math.round((now - stay.since) / 1000)} s; stays there usually end within ${Math.round(usual / 1000)} s (p90)`,
    });
  }
  return items;
}

/**
 * Sealing sectors holding a ticket that their pre-commit has not yet carried to the chain, once most of the
 * chain's lookback has passed: past it the pre-commit is refused and the sector must start over. Without an
 * answer from the chain there is no head to compare with, and no item.
 */
async function expiringTickets(d: DashboardDeps): Promise<AttentionItem[]> {
  const head = await d.lotus.chainHead().catch(() => null);
  if (!head) return [];
  const lookback = d.config.chain.max_pre_commit_randomness_lookback;
  const waiting = await d.records.list({ status: 'sealing', stage: 'allocated', limit: LIST_MAX });
  const queued = await d.records.list({ status: 'sealing', stage: 'precommit_queued', limit: LIST_MAX });
  return [...waiting, ...queued].flatMap((r): AttentionItem[] => {
    if (!r.ticket) return [];
    const age = head.Height - r.ticket.Epoch;
    if (age < TICKET_WARN_SHARE * lookback) return [];
    return [{
      Kind: 'ticket-expiring',
      Worker: r.worker_instance,
      Thread: null,
      Sector: sectorKey({ Miner: Number(r.miner), Number: Number(r.number) }),
      Since: null,
      Text: `ticket of epoch ${r.ticket.Epoch} is ${age} epochs old; the pre-commit must land within ${lookback} (${Math.max(0, lookback - age)} left)`,
    }];
  });
}

/** Sectors whose worker reported `Finished`, by hour, over the last 24 hours (empty hours included). */
async function finishedPerHour(db: ManagerDb, now: number) {
  const first = Math.floor(now / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const rows = await db
    .selectFrom('sector_events')
    .select([sql<number>`count(distinct miner || '/' || number)`.as('n'), sql<number>`(at - ${first}) / ${HOUR_MS}`.as('slot')])
    .where('next', '=', 'Finished')
    .where('at', '>=', first)
    .groupBy('slot')
    .execute();
  const counts = Array.from({ length: 24 }, (_, i) => ({ Hour: first + i * HOUR_MS, Count: 0 }));
  for (const r of rows) {
    const slot = counts[Math.floor(Number(r.slot))];
    if (slot) slot.Count += Number(r.n);
  }
  return counts;
}

/** What the chain holds about the sector, asked through the manager's own chain client. */
async function chainView(lotus: LotusClient, id: SectorID): Promise<ChainView> {
  const miner = idAddress(id.Miner);
  try {
    const [pre, info, head] = await Promise.all([lotus.stateSectorPreCommitInfo(miner, id.Number), lotus.stateSectorGetInfo(miner, id.Number), lotus.chainHead()]);
    return {
      PreCommit: pre && { SealedCID: pre.Info.SealedCID['/'], SealRandEpoch: pre.Info.SealRandEpoch, PreCommitEpoch: pre.PreCommitEpoch, Deposit: pre.PreCommitDeposit },
      Sector: info && { SealedCID: info.SealedCID['/'], SectorKeyCID: info.SectorKeyCID?.['/'] ?? null, Activation: info.Activation, Expiration: info.Expiration },
      Head: head.Height,
      Error: null,
    };
  } catch (err) {
    return { PreCommit: null, Sector: null, Head: null, Error: `the chain did not answer: ${(err as Error).message}` };
  }
}
