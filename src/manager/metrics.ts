import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ManagerDb } from './db/open.js';

/**
 * Prometheus metrics of the manager. Sector and worker gauges are read from the database at scrape time,
 * so they are right after a restart and cost nothing between scrapes.
 */
export function managerMetrics(db: ManagerDb): {
  registry: Registry;
  observeRpc: (method: string, seconds: number, ok: boolean) => void;
  failure: (level: string) => void;
} {
  const registry = new Registry();
  const rpcDuration = new Histogram({
    name: 'sealfleet_rpc_duration_seconds',
    help: 'Manager RPC latency by method',
    labelNames: ['method', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
    registers: [registry],
  });
  const failures = new Counter({ name: 'sealfleet_sector_failures_total', help: 'Failures reported by workers, by level', labelNames: ['level'], registers: [registry] });
  new Gauge({
    name: 'sealfleet_sectors',
    help: 'Sectors by manager status and latest reported state',
    labelNames: ['status', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.selectFrom('sectors').select(['status', 'latest_state', (eb) => eb.fn.countAll<number>().as('n')]).groupBy(['status', 'latest_state']).execute();
      for (const r of rows) this.set({ status: r.status, state: r.latest_state ?? '' }, Number(r.n));
    },
  });
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
  new Gauge({
    name: 'sealfleet_paused_threads',
    help: 'Paused sealing threads, from the last ping of each worker',
    registers: [registry],
    async collect() {
      const rows = await db.selectFrom('worker_pings').select('summary').execute();
      this.set(rows.reduce((sum, r) => sum + Number((JSON.parse(r.summary) as { Paused?: number }).Paused ?? 0), 0));
    },
  });
  return {
    registry,
    observeRpc: (method, seconds, ok) => rpcDuration.observe({ method, outcome: ok ? 'ok' : 'error' }, seconds),
    failure: (level) => failures.inc({ level }),
  };
}
