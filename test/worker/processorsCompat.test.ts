import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { findOnPath } from '../../src/core/executable.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, tempDir } from '../helpers/processes.js';
import { recordedTasks as records, recordingProcessorEntry as entry, startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/**
 * damocles' processor keys through the real worker daemon: stage staggering, named locks shared by stages,
 * the child's environment and CPUs, restarting (or not) a child that dies, static tree_d, and `[metrics]`.
 * External stages run test/fixtures/recordingProcessor.ts, which answers like the mock processor and records
 * what it saw.
 */

const processors = (extra: string) => `[processors]\ndefault = "mock"\n[processors.mock]\nstage_time = "20ms"\n${extra}`;

const finalized = (m: TestManager) => m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);

describe('damocles processor keys in the worker daemon (real processes)', () => {
  let m: TestManager;
  const workers: TestWorker[] = [];
  before(async () => {
    m = await startTestManager(tempDir('proc-compat'));
  });
  // One worker at a time, so the sectors a test sees finish are its worker's.
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.daemon.kill()));
  });
  after(async () => {
    await m.daemon.kill();
  });

  async function worker(opts: { threads: number; processors: string; env?: Record<string, string>; extra?: string }): Promise<TestWorker> {
    const threads = Array.from({ length: opts.threads }, () => ({ plan: 'sealer' }));
    const cfg = await writeWorkerConfig(tempDir('proc-compat-worker'), m, { threads, processors: opts.processors + (opts.extra ?? '') });
    const w = await startTestWorker(cfg, opts.env);
    workers.push(w);
    return w;
  }

  it('limitation.staggered spreads the starts of a stage at least one interval apart', async () => {
    const record = join(tempDir('proc-compat-stagger'), 'tree_d.jsonl');
    // Tasks outlast the interval, so the gate, not the end of a task, is what lets the next one start.
    await worker({
      threads: 3,
      processors: processors(`[processors.limitation.staggered]\ntree_d = "1s"\n${entry('tree_d', record, { delayMs: 1500 })}`),
    });
    const starts = await eventually('three tree_d tasks started', async () => {
      const s = records(record).filter((r) => r.phase === 'start').map((r) => r.at);
      return s.length >= 3 ? s.sort((a, b) => a - b) : undefined;
    }, 60_000);
    for (let i = 1; i < starts.length; i++) {
      assert.ok(starts[i]! - starts[i - 1]! >= 800, `tree_d starts ${starts[i - 1]} and ${starts[i]} are closer than the stagger allows: ${starts.join(', ')}`);
    }
  });

  it('ext_locks bound tasks across two stages that list the same lock', async () => {
    const record = join(tempDir('proc-compat-locks'), 'tasks.jsonl');
    const locked = { delayMs: 400, keys: 'locks = ["gpu"]' };
    await worker({
      threads: 3,
      processors: processors(`[processors.ext_locks]\ngpu = 1\n${entry('tree_d', record, locked)}${entry('pc1', record, locked)}`),
    });
    const done = await eventually('three pc1 tasks answered', async () => {
      const r = records(record);
      return r.filter((x) => x.stage === 'pc1' && x.phase === 'end').length >= 3 ? r : undefined;
    }, 90_000);
    // Replay the log of both children: at no point do two tasks hold the lock.
    let holding = 0;
    for (const r of done.sort((a, b) => a.at - b.at || (a.phase === 'end' ? -1 : 1))) {
      holding += r.phase === 'start' ? 1 : -1;
      assert.ok(holding <= 1, `two tasks held the gpu lock at ${r.at}: ${JSON.stringify(done)}`);
    }
    assert.ok(done.some((r) => r.stage === 'tree_d') && done.some((r) => r.stage === 'pc1'));
  });

  it('gives the child the worker environment or only its envs (inherit_envs), and pins it to cgroup.cpuset', async (t) => {
    const record = join(tempDir('proc-compat-env'), 'tasks.jsonl');
    const allowed = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
    // The last CPU this process may use: a set the child would not have by default when there are several.
    const cpu = allowed.split(/[,-]/).pop() ?? '0';
    const w = await worker({
      threads: 1,
      env: { SEALFLEET_TEST_ENV_INHERITED: 'from the worker' },
      processors: processors(
        entry('tree_d', record, { envs: { SEALFLEET_TEST_ENV_OWN: 'tree_d' }, keys: `cgroup.cpuset = "${cpu}"\ncgroup.group_name = "sealfleet"` }) +
          entry('pc1', record, { envs: { SEALFLEET_TEST_ENV_OWN: 'pc1' }, keys: 'inherit_envs = false\nnuma_preferred = 0' }),
      ),
    });
    const got = await eventually('tree_d and pc1 answered', async () => {
      const r = records(record).filter((x) => x.phase === 'end');
      const treeD = r.find((x) => x.stage === 'tree_d');
      const pc1 = r.find((x) => x.stage === 'pc1');
      return treeD && pc1 ? { treeD, pc1 } : undefined;
    }, 60_000);
    assert.deepEqual(got.treeD.env, { SEALFLEET_TEST_ENV_INHERITED: 'from the worker', SEALFLEET_TEST_ENV_OWN: 'tree_d' });
    assert.ok(got.treeD.hasPath);
    assert.deepEqual(got.pc1.env, { SEALFLEET_TEST_ENV_OWN: 'pc1' }, 'inherit_envs = false: the envs of the entry only');
    assert.ok(!got.pc1.hasPath, 'inherit_envs = false: not even PATH');
    const out = w.daemon.stdout();
    assert.match(out, /key \\"processors\.tree_d\.0\.cgroup\.group_name\\" is accepted for damocles compatibility and has no effect here/);
    if (!findOnPath('numactl')) assert.match(out, /numa_preferred = 0 has no effect: numactl is not on PATH/);
    if (!findOnPath('taskset')) {
      assert.match(out, /cgroup\.cpuset .* has no effect: taskset \(util-linux\) is not on PATH/);
      t.skip('taskset (util-linux) is not installed: the child cannot be pinned here');
      return;
    }
    assert.equal(got.treeD.cpus, cpu, `the tree_d child runs on CPU ${cpu} only`);
    assert.equal(got.pc1.cpus, allowed, 'a child without cpuset runs where the worker may');
  });

  it('auto_restart: a killed child is started again and the sector finishes; metrics show the step, the retry and the threads', async () => {
    const record = join(tempDir('proc-compat-restart'), 'tree_d.jsonl');
    const port = await freePort();
    const w = await worker({
      threads: 1,
      processors: processors(entry('tree_d', record, { delayMs: 3000 })),
      extra: `\n[metrics]\nenable = true\nhttp_listen = "127.0.0.1:${port}"\n`,
    });
    const before = (await finalized(m)).length;
    const first = await eventually('a tree_d task started', async () => records(record).find((r) => r.phase === 'start'), 60_000);
    process.kill(first.pid, 'SIGKILL');
    await eventually('a sector finished after the restart', async () => ((await finalized(m)).length > before ? true : undefined), 90_000);
    const answered = records(record).filter((r) => r.phase === 'end');
    assert.ok(answered.length >= 1 && answered.every((r) => r.pid !== first.pid), 'a new child answered');

    const scrape = async (): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      assert.equal(res.status, 200);
      return res.text();
    };
    const value = (text: string, series: RegExp): number => {
      const line = text.split('\n').find((l) => series.test(l));
      assert.ok(line, `no series ${series} in:\n${text}`);
      return Number(line.split(' ').pop());
    };
    const text = await scrape();
    const labels = 'worker_name="test-worker"';
    assert.ok(value(text, new RegExp(`^sealfleet_worker_step_duration_seconds_count\\{.*stage="TreeD".*\\}`)) >= 1, text);
    assert.ok(value(text, /^sealfleet_worker_step_duration_seconds_sum\{.*stage="TreeD".*\}/) >= 0.02, 'the tree_d step took its mock time at least');
    assert.ok(value(text, /^sealfleet_worker_errors_total\{.*level="Temporary".*\}/) >= 1, 'the killed task failed as temporary');
    assert.match(text, new RegExp(`^sealfleet_worker_paused_threads\\{${labels}\\} 0$`, 'm'));
    assert.match(text, new RegExp(`^sealfleet_worker_processor_tasks_in_flight\\{stage="c2",${labels}\\} [01]$`, 'm'));
    const threads = text.split('\n').filter((l) => l.startsWith('sealfleet_worker_threads{'));
    assert.equal(threads.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0), 1, 'one thread, counted once');
    assert.ok(threads.every((l) => l.includes(labels) && l.includes('plan="sealer"')), threads.join('\n'));

    await w.control.call('VenusWorker.WorkerPause', [0]);
    await eventually('the paused thread in the metrics', async () => (/^sealfleet_worker_paused_threads\{[^}]*\} 1$/m.test(await scrape()) ? true : undefined));
  });

  it('auto_restart = false: a killed child stays down and the thread pauses with an error naming it', async () => {
    const record = join(tempDir('proc-compat-norestart'), 'tree_d.jsonl');
    const w = await worker({ threads: 1, processors: processors(entry('tree_d', record, { delayMs: 3000, keys: 'auto_restart = false' })) });
    const first = await eventually('a tree_d task started', async () => records(record).find((r) => r.phase === 'start'), 60_000);
    process.kill(first.pid, 'SIGKILL');
    const [thread] = await eventually('the thread paused', async () => {
      const list = await w.list();
      return list[0]?.thread_state.state === 'Paused' ? list : undefined;
    }, 60_000);
    assert.equal(thread?.job_state, 'PieceAdded');
    assert.match(thread?.last_error ?? '', /^permanent: tree_d \(external\(node\)\): tree_d processor \S+ exited \(signal SIGKILL\) and auto_restart is off/);
    // Resumed, the step fails again at once: the child is not started again.
    await w.control.call('VenusWorker.WorkerResume', [0, null]);
    await eventually('paused again', async () => ((await w.list())[0]?.thread_state.state === 'Paused' ? true : undefined));
    assert.equal(records(record).filter((r) => r.phase === 'start').length, 1, 'no other task reached a child');
  });

  it('links static_tree_d for a CC sector instead of running tree_d', async () => {
    const tree = join(tempDir('proc-compat-static'), 'tree-d-2KiB.dat');
    writeFileSync(tree, Buffer.alloc(2 * 2048 - 32));
    // tree_d always fails here: the sector can only finish if the static tree stood in for it.
    const w = await worker({
      threads: 1,
      processors: processors(`fail.tree_d = 1\n[processors.static_tree_d]\n2KiB = "${tree}"\n`),
    });
    const before = (await finalized(m)).length;
    await eventually('a CC sector finished', async () => ((await finalized(m)).length > before ? true : undefined), 60_000);
    assert.match(w.daemon.stdout(), /CC sector: linked the static tree_d/);
    assert.equal(readFileSync(tree).length, 2 * 2048 - 32, 'the shared file is left as it was');
  });
});
