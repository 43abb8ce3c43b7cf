/* eslint-disable no-control-regex -- the terminal escapes of the live view are what these tests check */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { noTerminal, onTerminal } from '../helpers/terminal.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

describe('util sealer sectors watch (real cluster)', () => {
  let m: TestManager;
  let w: TestWorker;
  const watch = (...args: string[]) => runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'watch', '--home', m.home, ...args]);

  before(async () => {
    m = await startTestManager(tempDir('watch'));
    w = await startTestWorker(await writeWorkerConfig(tempDir('watch-w'), m, { processors: '[processors]\ndefault = "mock"\n[processors.mock]\nstage_time = "300ms"\n' }));
  });
  after(async () => {
    await w.daemon.kill();
    await m.daemon.kill();
  });

  it('--once prints one frame: sectors per plan and state, the longest in their state, workers and paused threads', async () => {
    await eventually('a finalized sector', async () => ((await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }])).length > 0 ? true : undefined), 60_000);
    const pause = await runCli(MANAGER_BIN, ['util', 'worker', 'pause', 'test-worker', '1', '--home', m.home]);
    assert.equal(pause.code, 0, pause.stderr);
    // The manager counts the paused thread from the worker's next ping.
    const frame = await eventually('a frame with the paused thread', async () => {
      const r = await watch('--once', '--top', '3');
      assert.equal(r.code, 0, r.stderr);
      return /^test-worker +1 +s-t01000-\d+ +\w+ +\d+s +-$/m.test(r.stdout) ? r.stdout : undefined;
    }, 60_000);

    const sectors = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);
    assert.match(frame, /^Sectors by plan\nPlan +sealing +finalized +aborted\nsealer +\d+ +\d+ +0$/m);
    const finalized = Number(/^sealer +\d+ +(\d+) +0$/m.exec(frame)?.[1]);
    assert.ok(finalized >= 1 && finalized <= sectors.filter((s) => s.Status === 'finalized').length, frame);
    assert.match(frame, /^Being sealed, by state\nPlan +Stage +State +Sectors +LongestInState\nsealer +\w+ +\w+ +\d+ +\d+(ms|s|m\d*s?)$/m);
    assert.match(frame, /^Longest in their state \(top 3\)\nSector +Plan +State +Worker +InState +Age\ns-t01000-\d+ +sealer +\w+ +test-worker /m);
    assert.match(frame, /^Workers\nName +Threads +Running +Waiting +Paused +Errors +LastPing\ntest-worker +2 +\d +\d +1 +\d +\d+(ms|s)$/m);
    assert.match(frame, /^Paused threads\nWorker +# +Sector +State +PausedFor +LastErr\n/m);
    assert.doesNotMatch(frame, /\x1b/, 'no terminal escapes outside a terminal');
  });

  it('redraws in place on a terminal every --interval and restores the cursor on Ctrl-C', { skip: noTerminal }, async () => {
    const run = onTerminal(MANAGER_BIN, ['util', 'sealer', 'sectors', 'watch', '--home', m.home, '--interval', '300ms']);
    let code: number | null;
    try {
      await eventually('three frames drawn', async () => ((run.output().match(/\x1b\[H/g) ?? []).length >= 3 ? true : undefined), 60_000);
    } finally {
      code = await run.ctrlC();
    }
    assert.equal(code, 0);
    const out = run.output();
    assert.ok(out.startsWith('\x1b[?25l'), 'the cursor is hidden while it draws');
    assert.match(out, /\x1b\[Hsealfleet pipeline at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(every 300ms; Ctrl-C quits\)\x1b\[K\r\n/);
    assert.match(out, /\x1b\[\?25h\r?\n?$/, 'the cursor is shown again at the end');
  });

  it('refuses a bad --interval or --top naming the value and what is expected', async () => {
    const zero = await watch('--interval', '0s');
    assert.equal(zero.code, 1);
    assert.match(zero.stderr, /invalid --interval "0s": expected a duration of at least 200ms, e.g. 2s/);
    const word = await watch('--interval', 'soon');
    assert.equal(word.code, 1);
    assert.match(word.stderr, /"soon"/);
    const top = await watch('--top', '0');
    assert.equal(top.code, 1);
    assert.match(top.stderr, /invalid --top "0": expected 1–100/);
  });
});
