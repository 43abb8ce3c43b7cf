import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, ROOT, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/** Debian's chromium (`.ci/run` installs it and sets SEALFLEET_REQUIRE_BROWSER=1, so CI never skips). */
const CHROMIUM = process.env.SEALFLEET_CHROMIUM || '/usr/bin/chromium';
const REQUIRED = process.env.SEALFLEET_REQUIRE_BROWSER === '1';
const SCREENSHOTS = process.env.SEALFLEET_SCREENSHOTS || join(ROOT, 'test-output', 'screenshots');
const skip = !existsSync(CHROMIUM) && !REQUIRED ? `no chromium at ${CHROMIUM}: set SEALFLEET_CHROMIUM, or SEALFLEET_REQUIRE_BROWSER=1 to fail instead` : false;
/** Waits on a loaded 2-core machine: generous, and never a sleep. */
const WAIT = { timeout: 60_000 };

async function cli(home: string, ...args: string[]): Promise<string> {
  const r = await runCli(MANAGER_BIN, ['util', ...args, '--home', home]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}
const threadsByCli = async (home: string): Promise<WorkerThreadInfo[]> => JSON.parse(await cli(home, 'worker', 'info', 'test-worker', '--json')) as WorkerThreadInfo[];

async function login(page: Page, token: string): Promise<void> {
  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
}

/** A JSON-RPC call made from inside the page, as a script on it could: with the given Authorization, or none. */
function callFromPage(page: Page, method: string, params: unknown[], authorization: string | null): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ([m, p, auth]) => {
      const res = await fetch('/rpc/v0', { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: m, params: p }) });
      return { status: res.status, body: await res.text() };
    },
    [method, params, authorization] as const,
  );
}

describe('the dashboard in headless chromium', { skip }, () => {
  let m: TestManager;
  let w: TestWorker;
  let browser: Browser;
  let page: Page;
  const elsewhere: string[] = [];
  before(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    m = await startTestManager(tempDir('dash-browser'));
    w = await startTestWorker(await writeWorkerConfig(tempDir('dash-browser-worker'), m, { threads: [{ plan: 'sealer' }, { plan: 'sealer' }] }));
    // Root in a container has no user namespaces for chromium's sandbox; the page is our own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('request', (req) => {
      if (new URL(req.url()).origin !== m.url) elsewhere.push(req.url());
    });
  });
  after(async () => {
    await browser?.close();
    await w?.daemon.kill();
    await m?.daemon.kill();
  });

  it('shows nothing and does nothing without a valid token', async () => {
    await page.goto(`${m.url}/#/worker/test-worker`);
    await page.locator('#token').waitFor(WAIT);
    assert.equal(await page.locator('[data-testid="threads"]').count(), 0);
    assert.ok(!(await page.content()).includes('s-t01000'), 'no sector shown');
    for (const auth of [null, 'Bearer not-a-token', `Bearer ${readFileSync(join(m.home, 'token'), 'utf8').trim()}x`]) {
      for (const [method, params] of [['SealFleet.DashboardOverview', []], ['SealFleet.WorkerPause', ['test-worker', 0]]] as const) {
        const r = await callFromPage(page, method, [...params], auth);
        assert.equal(r.status, 401, `${method} with ${auth ?? 'no token'}: ${r.body}`);
      }
    }
    assert.equal((await w.list()).some((t) => t.thread_state.state === 'Paused'), false, 'nothing was paused');
    await login(page, 'not-a-token');
    await page.getByRole('alert').filter({ hasText: 'token refused' }).waitFor(WAIT);
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused token is not kept');
  });

  it('lets a read token look, and shows the refusal when it tries to act', async () => {
    const read = (await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'read', '--home', m.home])).stdout.trim();
    await login(page, read);
    await page.getByTestId('session').filter({ hasText: 'token: read' }).waitFor(WAIT);
    assert.ok(!page.url().includes(read), 'the token is not in the URL');
    await page.getByTestId('threads').waitFor(WAIT);
    await page.getByTestId('pause-0').click();
    await page.getByTestId('pause-0-result').filter({ hasText: "missing permission to invoke 'SealFleet.WorkerPause' (need 'admin')" }).waitFor(WAIT);
    assert.equal((await threadsByCli(m.home))[0]?.thread_state.state === 'Paused', false);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.locator('#token').waitFor(WAIT);
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
  });

  it('watches a sector reach Finished on the pipeline, and shows its history and chain view', async () => {
    await login(page, readFileSync(join(m.home, 'token'), 'utf8').trim());
    await page.getByTestId('session').filter({ hasText: 'token: admin' }).waitFor(WAIT);
    await page.getByRole('link', { name: 'Pipeline' }).click();
    // The row of a state appears with its first sector (the page's CSP refuses waitForFunction's eval).
    const finishedCell = page.getByTestId('state-sealer-Finished');
    await finishedCell.waitFor({ timeout: 120_000 });
    assert.ok(Number(await finishedCell.textContent()) >= 1);
    await page.getByTestId('durations').locator('td', { hasText: 'PC1Done' }).first().waitFor(WAIT);
    await page.screenshot({ path: join(SCREENSHOTS, 'pipeline.png'), fullPage: true });

    const finished = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
    const sector = finished[0]?.Sector as string;
    await page.goto(`${m.url}/#/sector/${sector}`);
    await page.getByRole('heading', { name: `Sector ${sector}` }).waitFor(WAIT);
    await page.getByTestId('chain').locator('td', { hasText: /^bag/ }).first().waitFor(WAIT);
    await page.getByTestId('events').locator('td', { hasText: 'Finished' }).first().waitFor(WAIT);
    await page.getByTestId('steps').locator('td', { hasText: 'PC1Done' }).first().waitFor(WAIT);
    assert.ok((await page.getByTestId('events').locator('tbody tr').count()) > 10);
    await page.screenshot({ path: join(SCREENSHOTS, 'sector.png'), fullPage: true });
  });

  it('pauses a thread from the worker page, as the CLI then reports, and resumes it in a chosen state', async () => {
    await page.goto(`${m.url}/#/worker/test-worker`);
    await page.getByTestId('threads').waitFor(WAIT);
    await page.getByTestId('pause-0').click();
    await page.getByTestId('pause-0-result').filter({ hasText: 'pause requested' }).waitFor(WAIT);
    const paused = await eventually('the CLI reporting thread 0 paused', async () => {
      const t = (await threadsByCli(m.home))[0];
      return t?.thread_state.state === 'Paused' ? t : undefined;
    }, 60_000);
    await page.getByTestId('thread-0-paused').filter({ hasText: 'true' }).waitFor(WAIT);
    await page.screenshot({ path: join(SCREENSHOTS, 'worker-paused.png'), fullPage: true });

    // A thread holding a sector may drop it (Aborted); an idle one starts over from Empty.
    const state = paused.job_id ? 'Aborted' : 'Empty';
    const offered = await page.getByTestId('resume-state-0').locator('option').allTextContents();
    assert.ok(offered.includes('Aborted') && offered.includes('PC1Done') && !offered.includes('SnapEncoded'), offered.join(','));
    await page.getByTestId('resume-state-0').selectOption(state);
    await page.getByTestId('resume-0').click();
    await page.getByTestId('resume-0-result').filter({ hasText: `resumed in ${state}` }).waitFor(WAIT);
    await eventually('the CLI reporting thread 0 running', async () => ((await threadsByCli(m.home))[0]?.thread_state.state !== 'Paused' ? true : undefined), 60_000);
    const log = JSON.parse(await cli(m.home, 'worker', 'log', 'test-worker', '0', '--json')) as { event: string; to: string }[];
    assert.ok(log.some((row) => row.event === 'SetState' && row.to === state), JSON.stringify(log.slice(-5)));
    await page.getByTestId('log-0').click();
    await page.getByTestId('thread-log').locator('td', { hasText: 'SetState' }).first().waitFor(WAIT);
    await page.getByRole('link', { name: 'Overview' }).click();
    await page.getByTestId('workers').locator('a', { hasText: 'test-worker' }).waitFor(WAIT);
    await page.screenshot({ path: join(SCREENSHOTS, 'overview.png'), fullPage: true });
  });

  it('forgets the token on logout: the pages show the login again', async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.goto(`${m.url}/#/pipeline`);
    await page.locator('#token').waitFor(WAIT);
    assert.equal(await page.getByTestId('durations').count(), 0);
    assert.deepEqual(elsewhere, [], 'every request went to the manager');
  });
});
