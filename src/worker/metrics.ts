import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { serveHttp } from '../core/rpc/server.js';
import { STAGES, type Stage } from '../core/wire/processor.js';
import type { WorkerThreadInfo } from '../core/wire/workerControl.js';
import type { ThreadObserver } from './thread.js';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  threads(): WorkerThreadInfo[];
  inFlight(): Partial<Record<Stage, number>>;
}

/**
 * `[metrics]`: the worker's Prometheus metrics at `http://<http_listen>/metrics`, every series labelled with
 * `worker_name`. Thread and processor gauges are read when scraped; step durations and failures are counted as
 * the threads report them.
 */
export async function startWorkerMetrics(
  listen: string,
  workerName: string,
  sources: MetricsSources,
  onError: (err: unknown) => void,
): Promise<{ observer: ThreadObserver; url: string; close(): Promise<void> }> {
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
    help: 'Failed steps by plan and failure level',
    labelNames: ['plan', 'level'],
    registers: [registry],
  });
  const steps = new Histogram({
    name: 'sealfleet_worker_step_duration_seconds',
    help: 'Duration of the steps that ended in a transition, by plan and stage',
    labelNames: ['plan', 'stage'],
    // From a quick RPC to a 32GiB PC1 of hours.
    buckets: [0.01, 0.1, 1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600],
    registers: [registry],
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
      failure: (plan, level) => failures.inc({ plan, level }),
    },
    url: `${server.url}/metrics`,
    close: server.close,
  };
}
