import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { serveHttp } from '../core/rpc/server.js';
import { STEP_BUCKETS } from '../core/stepBuckets.js';
import { STAGES, type Stage } from '../core/wire/processor.js';
import type { WorkerThreadInfo } from '../core/wire/workerControl.js';
import type { ThreadObserver } from './thread.js';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  threads(): (WorkerThreadInfo & { state_age: number })[];
  inFlight(): Partial<Record<Stage, number>>;
}

/**
 * `[metrics]`: the worker's Prometheus metrics at `http://<http_listen>/metrics`, every series labelled with
 * `worker_name`. Thread, processor and ping-age gauges are read when scraped; steps, processor tasks, failures,
 * retries and pings are counted as they happen. Per-thread series are bounded by the configured threads.
 */
export async function startWorkerMetrics(
  listen: string,
  workerName: string,
  sources: MetricsSources,
  onError: (err: unknown) => void,
): Promise<{ observer: ThreadObserver; ping: (ok: boolean) => void; url: string; close(): Promise<void> }> {
  const registry = new Registry();
  registry.setDefaultLabels({ worker_name: workerName });
  new Gauge({
    name: 'sealfleet_worker_threads',
    help: 'Sealing threads by plan and the state of their sector (Empty: none)',
    labelNames: ['plan', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of sources.threads()) this.inc({ plan: t.plan, state: t.job_state || 'Empty' });
    },
  });
  new Gauge({
    name: 'sealfleet_worker_paused_threads',
    help: 'Sealing threads that are paused',
    registers: [registry],
    collect() {
      this.set(sources.threads().filter((t) => t.thread_state.state === 'Paused').length);
    },
  });
  new Gauge({
    name: 'sealfleet_worker_draining_threads',
    help: 'Sealing threads told to drain (they take no new sector)',
    registers: [registry],
    collect() {
      this.set(sources.threads().filter((t) => t.draining === true).length);
    },
  });
  new Gauge({
    name: 'sealfleet_worker_thread_paused_seconds',
    help: 'Seconds each paused thread has been paused (paused threads only)',
    labelNames: ['thread', 'plan'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of sources.threads()) {
        if (t.thread_state.state === 'Paused') this.set({ thread: String(t.index), plan: t.plan }, t.thread_state.elapsed ?? 0);
      }
    },
  });
  new Gauge({
    name: 'sealfleet_worker_thread_state_age_seconds',
    help: "Seconds each thread's sector has been in its current state (Empty: since the thread's last sector)",
    labelNames: ['thread', 'plan', 'state', 'stage'],
    registers: [registry],
    collect() {
      this.reset();
      for (const t of sources.threads()) {
        this.set({ thread: String(t.index), plan: t.plan, state: t.job_state || 'Empty', stage: t.job_stage ?? '-' }, t.state_age);
      }
    },
  });
  new Gauge({
    name: 'sealfleet_worker_processor_tasks_in_flight',
    help: 'Processor tasks running now, by stage',
    labelNames: ['stage'],
    registers: [registry],
    collect() {
      const running = sources.inFlight();
      for (const stage of STAGES) this.set({ stage }, running[stage] ?? 0);
    },
  });
  const failures = new Counter({
    name: 'sealfleet_worker_errors_total',
    help: 'Failed steps by plan, stage and failure level',
    labelNames: ['plan', 'stage', 'level'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'sealfleet_worker_retries_total',
    help: 'Temporary failures retried after a backoff, by plan and stage',
    labelNames: ['plan', 'stage'],
    registers: [registry],
  });
  const steps = new Histogram({
    name: 'sealfleet_worker_step_duration_seconds',
    help: 'Duration of the steps that ended in a transition, by plan and stage',
    labelNames: ['plan', 'stage'],
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const processorTime = new Histogram({
    name: 'sealfleet_worker_processor_duration_seconds',
    help: 'Duration of processor tasks (finished or failed), by processor stage',
    labelNames: ['stage'],
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const pingFailures = new Counter({ name: 'sealfleet_worker_ping_failures_total', help: 'Pings to the manager that failed', registers: [registry] });
  // Before the first answered ping the age counts from the start: a worker that never reached its manager ages.
  let lastPing = Date.now();
  new Gauge({
    name: 'sealfleet_worker_ping_age_seconds',
    help: 'Seconds since the manager last answered a ping',
    registers: [registry],
    collect() {
      this.set((Date.now() - lastPing) / 1000);
    },
  });
  const server = await serveHttp(
    listen,
    {
      '/metrics': async (_req, res) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      },
    },
    onError,
  );
  return {
    observer: {
      step: (plan, stage, seconds) => steps.observe({ plan, stage }, seconds),
      failure: (plan, stage, level) => failures.inc({ plan, stage, level }),
      retry: (plan, stage) => retries.inc({ plan, stage }),
      processor: (stage, seconds) => processorTime.observe({ stage }, seconds),
    },
    ping: (ok) => {
      if (ok) lastPing = Date.now();
      else pingFailures.inc();
    },
    url: `${server.url}/metrics`,
    close: server.close,
  };
}
