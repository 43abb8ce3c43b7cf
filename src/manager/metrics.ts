import { sql } from 'kysely';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { getPlan, isPlanState, stageOf, TERMINAL_STATES } from '../core/plans/index.js';
import { STEP_BUCKETS } from '../core/stepBuckets.js';
import type { ReportStateReq, SectorID, Ticket } from '../core/wire/sealer.js';
import { MinerMethod } from '../chain/minerParams.js';
import type { ChainMessageObserver } from './commitment/committer.js';
import type { ManagerDb } from './db/open.js';
import type { SectorPlan } from './sectors/lifecycle.js';
import { sectorKey, type TransactionName } from './sectors/store.js';

/** What the chain-facing gauges read at scrape time. */
export interface ChainFacts {
  head(): Promise<number>;
  /** `[chain] max_pre_commit_randomness_lookback`: a ticket older than this makes the pre-commit fail. */
  lookbackLimit: number;
}

/**
 * How many sectors' last state change the step histogram remembers. Each sealing sector holds one entry until
 * it finishes; past the bound the oldest entries go (their next step is not timed).
 */
const STEP_MEMORY = 200_000;
/** Sealer stages in which a ticket can still expire: before a pre-commit message has landed. */
const TICKET_STAGES = ['allocated', 'precommit_queued'] as const;
const METHOD_NAMES = new Map<number, string>(Object.entries(MinerMethod).map(([name, n]) => [n, name]));

/**
 * A worker-reported state as a label: states of the sector's plan, `other` for anything else, so a worker
 * (damocles' ones report their own state names) cannot grow the label set without bound.
 */
function stateLabel(plan: SectorPlan, state: string): { state: string; stage: string } {
  const p = getPlan(plan);
  return isPlanState(p, state) ? { state, stage: stageOf(p, state) } : { state: 'other', stage: '-' };
}

/**
 * Prometheus metrics of the manager. Sector, worker and ticket gauges are read from the database at scrape
 * time, so they are right after a restart, agree between managers sharing a database, and cost nothing
 * between scrapes. Counters and histograms count what this manager saw: sum them over managers.
 *
 * Time in state is a maximum per plan and state, not a series per sector: 100k sectors stay a few dozen
 * series, and the oldest sector is the one an alert needs (`util sealer sectors list --state` names them).
 */
export function managerMetrics(
  db: ManagerDb,
  chain: ChainFacts,
): {
  registry: Registry;
  observeRpc: (method: string, seconds: number, ok: boolean) => void;
  report: (id: SectorID, plan: SectorPlan, req: ReportStateReq) => void;
  chainMessage: ChainMessageObserver;
  transaction: (name: TransactionName, seconds: number) => void;
} {
  const registry = new Registry();
  const rpcDuration = new Histogram({
    name: 'sealfleet_rpc_duration_seconds',
    help: 'Manager RPC latency by method',
    labelNames: ['method', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
    registers: [registry],
  });
  const failures = new Counter({
    name: 'sealfleet_sector_failures_total',
    help: 'Failures reported by workers, by plan, stage and level (workers retry Temporary ones, then pause)',
    labelNames: ['plan', 'stage', 'level'],
    registers: [registry],
  });
  const steps = new Histogram({
    name: 'sealfleet_step_duration_seconds',
    help: 'Time sectors spent in a state before their worker reported the next one, by plan and stage',
    labelNames: ['plan', 'stage'],
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const transactions = new Histogram({
    name: 'sealfleet_db_transaction_duration_seconds',
    help: 'Sector-store transactions by the transition they make (ReportState: a batch of worker reports)',
    labelNames: ['transition'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  const messages = new Counter({
    name: 'sealfleet_chain_messages_total',
    help: 'Chain messages by kind and method: sent (accepted by the node), landed (exit code 0) or failed (exit code != 0)',
    labelNames: ['kind', 'method', 'outcome', 'exit_code'],
    registers: [registry],
  });
  new Gauge({
    name: 'sealfleet_sectors',
    help: 'Sectors by manager status, plan and latest reported state',
    labelNames: ['status', 'plan', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db
        .selectFrom('sectors')
        .select(['status', 'plan', 'latest_state', (eb) => eb.fn.countAll<number>().as('n')])
        .groupBy(['status', 'plan', 'latest_state'])
        .execute();
      for (const r of rows) this.inc({ status: r.status, plan: r.plan, state: r.latest_state === null ? '' : stateLabel(r.plan, r.latest_state).state }, Number(r.n));
    },
  });
  new Gauge({
    name: 'sealfleet_sector_state_age_max_seconds',
    help: 'Seconds the longest-waiting sealing sector of each plan and state has been in that state',
    labelNames: ['plan', 'state', 'stage'],
    registers: [registry],
    async collect() {
      this.reset();
      // When each sealing sector entered its latest state: its latest worker event into that state from another.
      const { rows } = await sql<{ plan: SectorPlan; state: string; oldest: number | string }>`
        select plan, state, min(entered) as oldest from (
          select s.plan as plan, s.latest_state as state,
            (select max(e.at) from sector_events e
              where e.miner = s.miner and e.number = s.number and e.next = s.latest_state and (e.prev is null or e.prev <> e.next)) as entered
          from sectors s where s.status = 'sealing' and s.latest_state is not null
        ) t where entered is not null group by plan, state`.execute(db);
      const now = Date.now();
      // Several unknown states fold into `other`: it keeps the oldest of them.
      const oldest = new Map<string, { labels: { plan: SectorPlan; state: string; stage: string }; age: number }>();
      for (const r of rows) {
        const labels = { plan: r.plan, ...stateLabel(r.plan, r.state) };
        const age = (now - Number(r.oldest)) / 1000;
        const key = `${labels.plan}/${labels.state}`;
        if ((oldest.get(key)?.age ?? -1) < age) oldest.set(key, { labels, age });
      }
      for (const { labels, age } of oldest.values()) this.set(labels, age);
    },
  });
  new Gauge({
    name: 'sealfleet_ticket_age_max_epochs',
    help: 'Age in epochs of the oldest ticket of a sector whose pre-commit has not landed (0: none)',
    registers: [registry],
    async collect() {
      const rows = await db
        .selectFrom('sectors')
        .leftJoin('messages', 'messages.id', 'sectors.pre_message')
        .select('sectors.ticket')
        .where('sectors.plan', '=', 'sealer')
        .where('sectors.ticket', 'is not', null)
        .where((eb) => eb.or([eb('sectors.stage', 'in', TICKET_STAGES), eb.and([eb('sectors.stage', '=', 'precommit_sent'), eb('messages.state', 'in', ['new', 'pushed'])])]))
        .execute();
      if (rows.length === 0) {
        this.set(0);
        return;
      }
      const oldest = rows.reduce((min, r) => Math.min(min, (JSON.parse(r.ticket ?? '{}') as Ticket).Epoch), Infinity);
      // An unreachable chain node leaves the age unknown (NaN) rather than failing the whole scrape.
      const head = await chain.head().catch(() => NaN);
      this.set(Math.max(0, head - oldest));
    },
  });
  new Gauge({
    name: 'sealfleet_ticket_lookback_limit_epochs',
    help: 'Oldest ticket a pre-commit may use, in epochs ([chain] max_pre_commit_randomness_lookback)',
    registers: [registry],
  }).set(chain.lookbackLimit);
  new Gauge({
    name: 'sealfleet_worker_last_ping_age_seconds',
    help: 'Seconds since each worker last pinged',
    labelNames: ['worker'],
    registers: [registry],
    async collect() {
      this.reset();
      const now = Date.now();
      for (const w of await db.selectFrom('worker_pings').select(['name', 'last_ping']).execute()) {
        this.set({ worker: w.name }, (now - Number(w.last_ping)) / 1000);
      }
    },
  });
  const fromPings = (name: string, help: string, key: 'Paused' | 'Draining'): void => {
    new Gauge({
      name,
      help,
      labelNames: ['worker'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const w of await db.selectFrom('worker_pings').select(['name', 'summary']).execute()) {
          this.set({ worker: w.name }, Number((JSON.parse(w.summary) as Partial<Record<typeof key, number>>)[key] ?? 0));
        }
      },
    });
  };
  fromPings('sealfleet_paused_threads', 'Paused sealing threads, from the last ping of each worker', 'Paused');
  fromPings('sealfleet_draining_threads', 'Draining sealing threads, from the last ping of each worker (damocles workers: 0)', 'Draining');

  // When each sector entered the state its worker last reported, as this manager heard it.
  const entered = new Map<string, { state: string; at: number }>();
  return {
    registry,
    observeRpc: (method, seconds, ok) => rpcDuration.observe({ method, outcome: ok ? 'ok' : 'error' }, seconds),
    report: (id, plan, req) => {
      const { Prev, Next } = req.StateChange;
      const { stage } = stateLabel(plan, Prev);
      if (req.Failure) failures.inc({ plan, stage, level: req.Failure.Level });
      if (Prev === Next) return;
      const key = sectorKey(id);
      const since = entered.get(key);
      const now = Date.now();
      if (since?.state === Prev) steps.observe({ plan, stage }, (now - since.at) / 1000);
      entered.delete(key);
      if ((TERMINAL_STATES as readonly string[]).includes(Next)) return;
      entered.set(key, { state: Next, at: now });
      if (entered.size > STEP_MEMORY) entered.delete(entered.keys().next().value as string);
    },
    chainMessage: (kind, method, outcome, exitCode) =>
      messages.inc({ kind, method: METHOD_NAMES.get(method) ?? String(method), outcome, exit_code: exitCode === null ? '' : String(exitCode) }),
    transaction: (name, seconds) => transactions.observe({ transition: name }, seconds),
  };
}
