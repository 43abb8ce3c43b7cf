import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { formatSectorId } from '../../src/core/sectorId.js';
import type { Overview, Pipeline, SectorView, WorkerView } from '../../src/core/wire/dashboard.js';
import { durationStats, sectorStays, slowAfter } from '../../src/manager/dashboard/stays.js';
import type { SectorEventRow } from '../../src/manager/sectors/store.js';
import { eventually, QUICK_CHAIN_TOML, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, ROOT, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

const codeOf = (code: number, pattern?: RegExp) => (err: unknown) => err instanceof RpcError && err.code === code && (!pattern || pattern.test(err.message));
/**
 * XML namespace names in Preact's and uPlot's DOM code: compared as strings when creating elements, never
 * requested. Any other absolute URL in a built asset fails the test.
 */
/** What `npm run build` built, and the manager daemon (run from dist/) serves. */
const DASHBOARD_DIR = join(ROOT, 'dist', 'dashboard');
const NAMESPACES = new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xhtml', 'http://www.w3.org/1998/Math/MathML', 'http://www.w3.org/1999/xlink']);

async function tokenFor(m: TestManager, perm: string): Promise<string> {
  const r = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', perm, '--home', m.home]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

function event(miner: number, number: number, at: number, next: string, worker = 'w'): SectorEventRow {
  return { id: 0, miner, number, at, worker_instance: worker, worker_location: null, prev: null, next, event: 'e', failure_level: null, failure_desc: null };
}

describe('dashboard figures from the sector history', () => {
  it('measures stays from one worker report to the next, past the manager rows, and knows where each sector is now', () => {
    const stays = sectorStays([
      event(1, 1, 0, 'PC1Done'),
      event(1, 2, 5, 'PC1Done'),
      event(1, 1, 50, 'PCSubmitted', 'manager'),
      event(1, 1, 100, 'PC2Done'),
      event(1, 1, 400, 'Finished'),
    ]);
    assert.deepEqual([...stays.completed], [['PC1Done', [100]], ['PC2Done', [300]]]);
    assert.deepEqual([...stays.open], [['1/2', { state: 'PC1Done', since: 5 }]], 'a finished sector is in no stay');
  });

  it('calls a stay slow past the factor times the p90 (at least the floor), and not without enough samples', () => {
    const usual = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
    assert.equal(slowAfter(usual, { factor: 3, floorMs: 0, minSamples: 5 }), 270);
    assert.equal(slowAfter(usual, { factor: 3, floorMs: 60_000, minSamples: 5 }), 60_000);
    assert.equal(slowAfter(usual.slice(0, 4), { factor: 3, floorMs: 0, minSamples: 5 }), null);
    const stats = durationStats('PC1Done', usual);
    assert.deepEqual([stats.Count, stats.P50Ms, stats.P90Ms, stats.MaxMs], [10, 50, 90, 1000]);
    assert.deepEqual(stats.Buckets, [{ LeMs: 100, Count: 9 }, { LeMs: 1000, Count: 1 }]);
  });
});

describe('dashboard API and pages on a running manager', () => {
  let m: TestManager;
  let w: TestWorker;
  let read: RpcClient;
  before(async () => {
    m = await startTestManager(tempDir('dash-api'));
    w = await startTestWorker(await writeWorkerConfig(tempDir('dash-api-worker'), m, { threads: [{ plan: 'sealer' }, { plan: 'sealer' }] }));
    read = new RpcClient({ url: `${m.url}/rpc/v0`, token: await tokenFor(m, 'read') });
  });
  after(async () => {
    await w?.daemon.kill();
    await m?.daemon.kill();
  });

  it('serves the page and its assets with their types and a same-origin-only policy; other paths 404; no data without a token', async () => {
    const page = await fetch(`${m.url}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'.*connect-src 'self'/);
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    const html = await page.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((x) => x[1] as string);
    assert.ok(assets.some((a) => a.endsWith('.js')) && assets.some((a) => a.endsWith('.css')), html);
    for (const a of assets) {
      const res = await fetch(`${m.url}${a}`);
      assert.equal(res.status, 200, a);
      assert.equal(res.headers.get('content-type'), a.endsWith('.js') ? 'text/javascript; charset=utf-8' : 'text/css; charset=utf-8');
      assert.match(res.headers.get('cache-control') ?? '', /immutable/);
      await res.arrayBuffer();
    }
    for (const path of ['/nothing', '/assets/', '/assets/missing.js', '/assets/../index.html', '/index.html/']) {
      const res = await fetch(`${m.url}${path}`);
      assert.equal(res.status, 404, path);
      await res.text();
    }
    const post = await fetch(`${m.url}/`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 405);
    await post.text();
    // The served files are the same for everyone: no token, no figures in them.
    const adminToken = readFileSync(join(m.home, 'token'), 'utf8').trim();
    assert.ok(!html.includes(adminToken) && !html.includes('s-t01000'));
    const noToken = await fetch(`${m.url}/rpc/v0`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'SealFleet.DashboardOverview', params: [] }) });
    assert.equal(noToken.status, 401);
    await noToken.text();
    await assert.rejects(new RpcClient({ url: `${m.url}/rpc/v0`, token: `${adminToken}x` }).call('SealFleet.DashboardPipeline'), codeOf(RPC_CODES.Unauthorized));
  });

  it('has built no asset that names another host', () => {
    const files = readdirSync(join(DASHBOARD_DIR, 'assets')).map((f) => join('assets', f));
    for (const file of ['index.html', ...files]) {
      const text = readFileSync(join(DASHBOARD_DIR, file), 'utf8');
      const foreign = [...text.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*/gi)].map((x) => x[0]).filter((url) => !NAMESPACES.has(url));
      assert.deepEqual(foreign, [], file);
    }
  });

  it('shows sectors reaching Finished, their history, chain view and worker steps, and the overview of the cluster', async () => {
    // The worker reports Finished, then ReportFinalized moves the sector to the manager's `finalized` stage.
    const pipeline = await eventually('a Finished sector in the pipeline, finalized at the manager', async () => {
      const p = await read.call<Pipeline>('SealFleet.DashboardPipeline');
      const finished = (p.ByState.find((s) => s.Plan === 'sealer' && s.State === 'Finished')?.Count ?? 0) >= 1;
      return finished && p.ByStage.some((s) => s.Stage === 'finalized' && s.Count >= 1) ? p : undefined;
    }, 90_000);
    assert.ok(pipeline.Durations.some((d) => d.State === 'PC1Done' && d.Count >= 1 && d.Buckets.reduce((n, b) => n + b.Count, 0) === d.Count));

    // A sector left in TicketAssigned, where the worker's sectors stay for milliseconds: slow past the p90
    // (factor 1, no floor), not yet with the default floor of a minute.
    const idle = new FakeSealer(m, await m.call('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]));
    await idle.prepare();
    const idleKey = formatSectorId({ miner: idle.id.Miner, number: idle.id.Number });
    // Five of the worker's sectors must have passed TicketAssigned before there is a usual stay to judge by.
    const slowItem = async () => (await read.call<Overview>('SealFleet.DashboardOverview', [{ SlowFactor: 1, SlowFloorMs: 0 }])).Attention.find((a) => a.Kind === 'slow-sector' && a.Sector === idleKey);
    const slow = await eventually('the idle sector listed as slow', slowItem, 90_000);
    assert.match(slow.Text, /^in TicketAssigned for \d+ s; stays there usually end within \d+ s \(p90\)$/);
    assert.ok(!(await read.call<Overview>('SealFleet.DashboardOverview')).Attention.some((a) => a.Sector === idleKey));

    const finished = await m.call<{ Sector: string; Miner: number; Number: number }[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
    const first = finished[0];
    assert.ok(first);
    const view = await read.call<SectorView>('SealFleet.DashboardSector', [{ Miner: first.Miner, Number: first.Number }]);
    assert.equal(view.Record.Status, 'finalized');
    assert.ok(view.Events.length > 10 && view.Events[0]?.TookMs === null && view.Events.slice(1).every((e) => typeof e.TookMs === 'number'));
    assert.equal(view.Chain.Error, null);
    assert.match(view.Chain.Sector?.SealedCID ?? '', /^bag/, JSON.stringify(view.Chain));
    assert.equal(view.Chain.Sector?.SectorKeyCID, null);
    assert.deepEqual(view.Actions, ['rebuild']);
    assert.ok(view.ThreadLog.some((row) => row.event === 'PC1' && row.processor_ms !== null), JSON.stringify(view.ThreadLog));
    await assert.rejects(read.call('SealFleet.DashboardSector', [{ Miner: 1000, Number: 999_999 }]), /s-t01000-999999/);
    await assert.rejects(read.call('SealFleet.DashboardSector', [{ Miner: -1, Number: 1 }]), codeOf(RPC_CODES.InvalidParams));

    const overview = await read.call<Overview>('SealFleet.DashboardOverview');
    assert.deepEqual(overview.Workers.map((x) => [x.Name, x.Expired, x.Summary.Threads]), [['test-worker', false, 2]]);
    assert.ok(overview.Sectors.finalized >= 1);
    assert.equal(overview.FinishedPerHour.length, 24);
    assert.ok(overview.FinishedPerHour.reduce((n, h) => n + h.Count, 0) >= 1);
    const expired = await eventually('an expired ping', async () => {
      const o = await read.call<Overview>('SealFleet.DashboardOverview', [{ PingExpireMs: 1 }]);
      return o.Attention.some((a) => a.Kind === 'expired-ping' && a.Worker === 'test-worker') ? o : undefined;
    });
    assert.equal(expired.Workers[0]?.Expired, true);
    await assert.rejects(read.call('SealFleet.DashboardOverview', [{ PingExpireMs: -5 }]), codeOf(RPC_CODES.InvalidParams, /PingExpireMs/));
  });

  it('pauses, resumes in a state of the plan and drains a thread through the worker, for an admin only, and lists paused threads as needing attention', async () => {
    const writer = new RpcClient({ url: `${m.url}/rpc/v0`, token: await tokenFor(m, 'write') });
    await assert.rejects(read.call('SealFleet.WorkerPause', ['test-worker', 0]), codeOf(RPC_CODES.Unauthorized, /need 'admin'/));
    await assert.rejects(writer.call('SealFleet.WorkerPause', ['test-worker', 0]), codeOf(RPC_CODES.Unauthorized, /need 'admin'/));
    assert.equal((await w.list())[0]?.thread_state.state === 'Paused', false, 'refused calls paused nothing');

    const threads = await read.call<WorkerView>('SealFleet.DashboardWorker', ['test-worker']);
    assert.deepEqual(threads.Threads.map((t) => t.index), [0, 1]);
    assert.ok(threads.Threads[0]?.ResumeStates.includes('Aborted') && threads.Threads[0].ResumeStates.includes('PC1Done'));
    assert.ok(!threads.Threads[0]?.ResumeStates.includes('SnapEncoded'), 'only the sealer plan\'s states');

    assert.deepEqual(await m.call('SealFleet.WorkerPause', ['test-worker', 0]), { Worker: 'test-worker', Index: 0, Requested: true });
    await eventually('thread 0 paused', async () => ((await w.list())[0]?.thread_state.state === 'Paused' ? true : undefined), 30_000);
    const attention = await eventually('the paused thread in the overview', async () => {
      const o = await read.call<Overview>('SealFleet.DashboardOverview');
      return o.Attention.find((a) => a.Kind === 'paused-thread' && a.Worker === 'test-worker' && a.Thread === 0) && o.Troubled.some((t) => t.Index === 0 && t.Paused) ? o : undefined;
    });
    assert.ok(attention.Attention.length >= 1);

    await assert.rejects(m.call('SealFleet.WorkerResume', ['test-worker', 0, 'SnapEncoded']), codeOf(RPC_CODES.InvalidParams, /invalid state "SnapEncoded".*plan sealer has Empty, /));
    await assert.rejects(m.call('SealFleet.WorkerResume', ['test-worker', 7, null]), codeOf(RPC_CODES.Application, /no thread #7/));
    await assert.rejects(m.call('SealFleet.WorkerPause', ['nobody', 0]), /no worker named "nobody"/);
    await assert.rejects(m.call('SealFleet.WorkerResume', ['test-worker', 1, null]), /worker test-worker: .*not paused/);
    const paused = (await w.list())[0];
    const state = paused?.job_id ? 'Aborted' : 'Empty';
    assert.deepEqual(await m.call('SealFleet.WorkerResume', ['test-worker', 0, state]), { Worker: 'test-worker', Index: 0, State: state });
    await eventually('thread 0 running again', async () => ((await w.list())[0]?.thread_state.state !== 'Paused' ? true : undefined));
    const log = await read.call<{ event: string; to: string }[]>('SealFleet.DashboardThreadLog', ['test-worker', 0, 50]);
    assert.ok(log.some((row) => row.event === 'SetState' && row.to === state), JSON.stringify(log.slice(-5)));

    assert.deepEqual(await m.call('SealFleet.WorkerDrain', ['test-worker', null]), { Worker: 'test-worker', Index: null, Draining: 2 });
  });

  it('lists a worker that does not answer as unreachable, with its address and not the token', async () => {
    await m.call('SealFleet.WorkerPause', ['test-worker', 1]);
    await eventually('a ping reporting the pause', async () => ((await read.call<Overview>('SealFleet.DashboardOverview')).Workers[0]?.Summary.Paused ? true : undefined), 30_000);
    await w.daemon.kill();
    const item = await eventually('the worker unreachable', async () => (await read.call<Overview>('SealFleet.DashboardOverview')).Attention.find((a) => a.Kind === 'worker-unreachable'));
    assert.match(item.Text, /worker test-worker at http:\/\/.* is unreachable/);
    assert.ok(!item.Text.includes(readFileSync(join(m.home, 'token'), 'utf8').trim()));
    await assert.rejects(read.call('SealFleet.DashboardWorker', ['test-worker']), /worker test-worker at http.* is unreachable/);
  });
});

describe('tickets close to expiry', () => {
  it('lists a sector whose ticket is past most of the pre-commit lookback', async () => {
    const m = await startTestManager(tempDir('dash-ticket'), { managerToml: `${QUICK_CHAIN_TOML}\n`.replace('[chain]\n', '[chain]\nmax_pre_commit_randomness_lookback = 20\n') });
    try {
      const s = new FakeSealer(m, await m.call('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]));
      await s.prepare();
      const item = await eventually('the ticket listed', async () => (await m.call<Overview>('SealFleet.DashboardOverview')).Attention.find((a) => a.Kind === 'ticket-expiring'), 30_000);
      assert.equal(item.Sector, 's-t01000-1');
      assert.match(item.Text, /^ticket of epoch \d+ is \d+ epochs old; the pre-commit must land within 20 \(\d+ left\)$/);
    } finally {
      await m.daemon.kill();
    }
  });
});
