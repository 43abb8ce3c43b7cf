import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { findOnPath } from '../../src/core/executable.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { knownNames, scrape, series, total, type Scrape } from '../helpers/metrics.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, ROOT, tempDir } from '../helpers/processes.js';
import { recordedTasks, recordingProcessorEntry, startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/**
 * Both daemons' `/metrics` after a demo run through the real processes: a devnet manager and a worker with
 * `[metrics]` sealing a few sectors with mock processors, its tree_d child killed once (a temporary failure,
 * retried), one thread paused while its sector holds a ticket and resumed, one thread drained. The shipped
 * Grafana dashboard and alert rules are then checked against what those scrapes hold.
 */

const ALERTS = join(ROOT, 'deploy', 'prometheus', 'sealfleet-alerts.yml');
const ALERT_TESTS = join(ROOT, 'deploy', 'prometheus', 'sealfleet-alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'sealfleet.json');
const SECTORS = 3;

/** The `sealfleet_*` names a PromQL expression (or any text) mentions. */
const metricNames = (text: string): string[] => [...new Set(text.match(/\bsealfleet_[a-z0-9_]+/g) ?? [])];

describe('metrics of both daemons after a demo run', () => {
  let m: TestManager;
  let w: TestWorker;
  let workerMetrics: string;
  // Filled by the demo run; the checks of the dashboard and the rules read them.
  let manager: Scrape | undefined;
  let worker: Scrape | undefined;

  before(async () => {
    m = await startTestManager(tempDir('metrics-manager'));
    const port = await freePort();
    const record = join(tempDir('metrics-tree-d'), 'tree_d.jsonl');
    const processors = `[processors]
default = "mock"
[processors.mock]
stage_time = "20ms"
stage_times.pc1 = "1s"
${recordingProcessorEntry('tree_d', record, { delayMs: 1500 })}
[metrics]
enable = true
http_listen = "127.0.0.1:${port}"
`;
    const cfg = await writeWorkerConfig(tempDir('metrics-worker'), m, { threads: [{ plan: 'sealer' }, { plan: 'sealer' }], maxRetries: 10, processors });
    w = await startTestWorker(cfg);
    workerMetrics = `http://127.0.0.1:${port}/metrics`;
    // The injected temporary failure: the first tree_d child dies under its task, the worker retries.
    const first = await eventually('a tree_d task started', async () => recordedTasks(record).find((r) => r.phase === 'start'), 60_000);
    process.kill(first.pid, 'SIGKILL');
  });

  after(async () => {
    await w?.daemon.kill();
    await m?.daemon.kill();
  });

  it('shows every metric, with values where work happened', async () => {
    // Paused while its sector holds a ticket and has no pre-commit: the ticket ages, the sector sits in PC1Done.
    const holding = await eventually('a thread running PC1', async () => (await w.list()).find((t) => t.job_state === 'TicketAssigned'), 90_000);
    await w.control.call('VenusWorker.WorkerPause', [holding.index]);
    await eventually('the thread paused', async () => ((await w.list()).find((t) => t.index === holding.index)?.thread_state.state === 'Paused' ? true : undefined), 30_000);

    const paused = await scrape(workerMetrics);
    assert.equal(total(paused, 'sealfleet_worker_paused_threads'), 1);
    assert.equal(series(paused, 'sealfleet_worker_thread_paused_seconds', { thread: String(holding.index), plan: 'sealer', worker_name: 'test-worker' }).length, 1, 'the paused thread has its pause time');
    const ages = series(paused, 'sealfleet_worker_thread_state_age_seconds', { thread: String(holding.index), state: 'PC1Done' });
    assert.equal(ages.length, 1, "the paused thread's sector is in PC1Done");
    await eventually('the manager sees the pause, the ticket age and the time in PC1Done', async () => {
      const s = await scrape(`${m.url}/metrics`);
      const ok =
        total(s, 'sealfleet_paused_threads', { worker: 'test-worker' }) === 1 &&
        total(s, 'sealfleet_ticket_age_max_epochs') > 0 &&
        total(s, 'sealfleet_sector_state_age_max_seconds', { plan: 'sealer', state: 'PC1Done' }) > 0;
      return ok ? true : undefined;
    }, 30_000);

    await w.control.call('VenusWorker.WorkerResume', [holding.index, null]);
    await eventually(`${SECTORS} sectors finalized`, async () => {
      const done = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
      return done.length >= SECTORS ? true : undefined;
    }, 180_000);
    await w.control.call('VenusWorker.WorkerDrain', [1]);
    manager = await eventually('the manager sees the drained thread', async () => {
      const s = await scrape(`${m.url}/metrics`);
      return total(s, 'sealfleet_draining_threads', { worker: 'test-worker' }) === 1 ? s : undefined;
    }, 30_000);
    worker = await scrape(workerMetrics);

    // The worker.
    const wk = worker;
    assert.ok(series(wk, 'sealfleet_worker_threads').every((x) => x.labels.worker_name === 'test-worker'), 'every series names the worker');
    assert.equal(total(wk, 'sealfleet_worker_threads', { plan: 'sealer' }), 2);
    assert.equal(total(wk, 'sealfleet_worker_paused_threads'), 0, 'resumed');
    assert.equal(total(wk, 'sealfleet_worker_draining_threads'), 1);
    assert.equal(series(wk, 'sealfleet_worker_thread_state_age_seconds').length, 2, 'one state age per thread');
    assert.ok(series(wk, 'sealfleet_worker_thread_state_age_seconds').every((x) => x.value >= 0));
    const stepStages = new Set(series(wk, 'sealfleet_worker_step_duration_seconds_count', { plan: 'sealer' }).filter((x) => x.value > 0).map((x) => x.labels.stage));
    assert.ok(stepStages.size >= 5, `steps of many stages timed: ${[...stepStages].join(', ')}`);
    assert.ok(total(wk, 'sealfleet_worker_step_duration_seconds_sum') > 1, 'the steps took their mock times');
    for (const stage of ['tree_d', 'pc1', 'pc2', 'c2']) assert.ok(total(wk, 'sealfleet_worker_processor_duration_seconds_count', { stage }) >= SECTORS, `processor time of ${stage}`);
    assert.ok(total(wk, 'sealfleet_worker_processor_duration_seconds_sum', { stage: 'pc1' }) >= SECTORS, 'pc1 took its second each time');
    assert.equal(series(wk, 'sealfleet_worker_processor_tasks_in_flight', { stage: 'pc1' }).length, 1);
    assert.ok(total(wk, 'sealfleet_worker_errors_total', { plan: 'sealer', level: 'Temporary' }) >= 1, 'the killed tree_d task failed as temporary');
    assert.ok(total(wk, 'sealfleet_worker_retries_total', { plan: 'sealer' }) >= 1, 'and was retried');
    assert.equal(series(wk, 'sealfleet_worker_ping_age_seconds').length, 1);
    assert.equal(total(wk, 'sealfleet_worker_ping_failures_total'), 0);

    // The manager.
    const mg = manager;
    assert.ok(total(mg, 'sealfleet_sectors', { status: 'finalized', plan: 'sealer' }) >= SECTORS);
    const managerStages = new Set(series(mg, 'sealfleet_step_duration_seconds_count', { plan: 'sealer' }).filter((x) => x.value > 0).map((x) => x.labels.stage));
    assert.ok(managerStages.size >= 5, `the manager timed steps of many stages: ${[...managerStages].join(', ')}`);
    assert.ok(total(mg, 'sealfleet_sector_failures_total', { plan: 'sealer', level: 'Temporary' }) >= 1, 'the temporary failure reached the manager');
    for (const kind of ['precommit', 'prove']) {
      assert.ok(total(mg, 'sealfleet_chain_messages_total', { kind, outcome: 'sent' }) >= 1, `${kind} messages sent`);
      assert.ok(total(mg, 'sealfleet_chain_messages_total', { kind, outcome: 'landed', exit_code: '0' }) >= 1, `${kind} messages landed`);
    }
    assert.equal(total(mg, 'sealfleet_chain_messages_total', { outcome: 'failed' }), 0);
    for (const transition of ['ReportState', 'SectorAllocated', 'TicketAssigned', 'PreCommitSent', 'Finalized']) {
      assert.ok(total(mg, 'sealfleet_db_transaction_duration_seconds_count', { transition }) >= 1, `transactions of ${transition} timed`);
    }
    assert.ok(total(mg, 'sealfleet_ticket_lookback_limit_epochs') > 0);
    assert.equal(series(mg, 'sealfleet_ticket_age_max_epochs').length, 1);
    assert.equal(series(mg, 'sealfleet_worker_last_ping_age_seconds', { worker: 'test-worker' }).length, 1);
    assert.equal(total(mg, 'sealfleet_paused_threads', { worker: 'test-worker' }), 0);
    assert.ok(total(mg, 'sealfleet_rpc_duration_seconds_count', { method: 'Venus.ReportState', outcome: 'ok' }) >= 1);
    assert.equal(mg.types.get('sealfleet_sector_state_age_max_seconds'), 'gauge', 'declared, with series only while sectors are sealing');
  });

  it('the Grafana dashboard queries only metrics the daemons export', () => {
    assert.ok(manager && worker, 'the demo run scraped both daemons');
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      schemaVersion: number;
      templating: { list: { type: string; name: string; query: unknown }[] };
      panels: { title: string; type: string; datasource?: { uid: string }; targets?: { expr: string }[]; panels?: unknown[] }[];
    };
    assert.ok(dashboard.schemaVersion >= 36, `schemaVersion ${dashboard.schemaVersion}`);
    const datasource = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.ok(datasource, 'a datasource variable');
    assert.equal(datasource.query, 'prometheus');
    const known = knownNames(manager, worker);
    const queries: string[] = dashboard.templating.list.filter((v) => v.type === 'query').map((v) => JSON.stringify(v.query));
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    assert.ok(graphs.length >= 15, `${graphs.length} panels`);
    for (const p of graphs) {
      assert.equal(p.datasource?.uid, `\${${datasource.name}}`, `panel "${p.title}" uses the datasource variable`);
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has queries`);
      for (const t of p.targets ?? []) {
        assert.ok(metricNames(t.expr).length > 0, `panel "${p.title}" queries a sealfleet metric: ${t.expr}`);
        queries.push(t.expr);
      }
    }
    const used = new Set(queries.flatMap(metricNames));
    const missing = [...used].filter((n) => !known.has(n));
    assert.deepEqual(missing, [], 'every metric the dashboard queries is in a scrape');
    // And the dashboard shows every family the daemons export.
    const families = [...manager.types.keys(), ...worker.types.keys()].filter((n) => n.startsWith('sealfleet_'));
    const shown = families.filter((f) => [...used].some((u) => u === f || u.startsWith(`${f}_`)));
    assert.deepEqual(families.filter((f) => !shown.includes(f)), [], 'every exported family has a panel');
  });

  it('the alert rules use only metrics the daemons export', () => {
    assert.ok(manager && worker, 'the demo run scraped both daemons');
    const known = knownNames(manager, worker);
    const rules = readFileSync(ALERTS, 'utf8');
    assert.equal(rules.match(/^\s+expr: /gm)?.length, 7, 'one expression per rule');
    for (const alert of ['SealfleetThreadPaused', 'SealfleetWorkerPingExpired', 'SealfleetSectorStuck', 'SealfleetTicketNearLookbackLimit', 'SealfleetTemporaryErrorRate', 'SealfleetChainMessagesFailing']) {
      assert.match(rules, new RegExp(`- alert: ${alert}\\n`), `rule ${alert}`);
    }
    const used = metricNames(rules);
    assert.ok(used.length >= 10, used.join(', '));
    assert.deepEqual(used.filter((n) => !known.has(n)), [], 'every metric the rules (and their texts) name is in a scrape');
  });

  it('promtool accepts the rules and their unit tests pass', async (t) => {
    const promtool = findOnPath('promtool');
    if (!promtool) {
      if (process.env.SEALFLEET_REQUIRE_PROMTOOL === '1') assert.fail('SEALFLEET_REQUIRE_PROMTOOL=1 but promtool is not on PATH (Debian package prometheus)');
      t.skip('promtool is not on PATH (Debian package prometheus)');
      return;
    }
    const run = promisify(execFile);
    const check = await run(promtool, ['check', 'rules', ALERTS]);
    assert.match(check.stdout, /SUCCESS: 7 rules found/);
    const tests = await run(promtool, ['test', 'rules', ALERT_TESTS]);
    assert.match(tests.stdout, /SUCCESS/);
  });
});
