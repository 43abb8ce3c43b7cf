import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WorkerControlMethods, type WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, ROOT, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

const GUIDE = join(ROOT, 'docs', 'operations.md');
const BINS: Record<string, string> = { 'sealfleet-manager': MANAGER_BIN, 'sealfleet-worker': WORKER_BIN };

interface Section {
  heading: string;
  commands: string[];
}

/** The guide's ```sh commands, by the heading (## or ###) they are under. */
function sections(markdown: string): Section[] {
  const found: Section[] = [];
  let heading = '';
  let inSh = false;
  for (const line of markdown.split('\n')) {
    if (!inSh && /^#{2,3} /.test(line)) heading = line.replace(/^#+ /, '');
    else if (line === '```sh') inSh = true;
    else if (inSh && line === '```') inSh = false;
    else if (inSh && line.trim()) {
      const last = found.at(-1);
      if (last?.heading === heading) last.commands.push(line.trim());
      else found.push({ heading, commands: [line.trim()] });
    }
  }
  return found;
}

/** A command line split as a shell would split it (words, double-quoted strings). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

describe('docs/operations.md: every command, on a real cluster', () => {
  let m: TestManager;
  let w: TestWorker;
  let config: string;

  before(async () => {
    m = await startTestManager(tempDir('ops'));
    config = await writeWorkerConfig(tempDir('ops-w'), m, { processors: '[processors]\ndefault = "mock"\n[processors.mock]\nstage_time = "200ms"\n' });
    w = await startTestWorker(config);
  });
  after(async () => {
    await w.daemon.kill();
    await m.daemon.kill();
  });

  const thread = async (index: number): Promise<WorkerThreadInfo | undefined> => (await w.list()).find((t) => t.index === index);

  /** Pauses thread `index` at a moment it holds a sector (a pause between sectors is resumed and tried again). */
  async function pausedHolding(index: number): Promise<string> {
    return eventually('a thread paused holding a sector', async () => {
      await w.control.call(WorkerControlMethods.pause, [index]);
      const t = await eventually('the thread paused', async () => ((await thread(index))?.thread_state.state === 'Paused' ? thread(index) : undefined), 30_000);
      if (t?.job_id) return t.job_id;
      await w.control.call(WorkerControlMethods.resume, [index, null]);
      await eventually('a sector on the thread', async () => ((await thread(index))?.job_id ? true : undefined), 30_000);
      return undefined;
    }, 90_000);
  }

  /** A sealed sector, active on chain, whose files are in its persist store. */
  const finalized = (): Promise<string> =>
    eventually('a finalized sector', async () => (await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]))[0]?.Sector, 120_000);

  const base = (): Record<string, string> => ({ '<home>': m.home, '<worker>': 'test-worker', '<config>': config, '<index>': '0' });
  /** What each section needs before its commands run, and the placeholders they take. */
  const SETUP: Record<string, () => Promise<Record<string, string>>> = {
    'Seeing what the cluster does': async () => base(),
    'Recovering a paused thread': async () => ({ ...base(), '<sector>': await pausedHolding(0) }),
    'Give the sector up': async () => ({ ...base(), '<sector>': await pausedHolding(0) }),
    'Seal it again from a new ticket': async () => ({ ...base(), '<sector>': await pausedHolding(0) }),
    // Paused, so that the sector is still being sealed when the abort arrives.
    'Aborting a sector': async () => ({ ...base(), '<index>': '1', '<sector>': await pausedHolding(1) }),
    'Draining a worker': async () => base(),
    'Keeping sectors proven': async () => ({ ...base(), '<sector>': await finalized() }),
    'Reading the dashboard': async () => base(),
    'Moving from damocles': async () => base(),
  };

  it('runs each command of the guide, with its placeholders filled in, and each succeeds', async () => {
    const guide = sections(readFileSync(GUIDE, 'utf8'));
    assert.ok(guide.length >= 8, `only ${guide.map((s) => s.heading).join(', ')}`);
    for (const section of guide) {
      const setup = SETUP[section.heading];
      assert.ok(setup, `the guide's section "${section.heading}" has commands this test does not cover`);
      const values = await setup();
      for (const line of section.commands) {
        const [program = '', ...args] = words(line).map((word) => word.replace(/<[a-z]+>/g, (p) => {
          const v = values[p];
          if (v === undefined) throw new Error(`"${section.heading}": no value for ${p} in: ${line}`);
          return v;
        }));
        const bin = BINS[program];
        assert.ok(bin, `"${section.heading}": not a sealfleet command: ${line}`);
        const res = await runCli(bin, args);
        assert.equal(res.code, 0, `"${section.heading}": ${line}\n${res.stderr}`);
        assert.ok(res.stdout.trim(), `"${section.heading}": ${line} printed nothing`);
      }
    }
    assert.deepEqual(Object.keys(SETUP).filter((h) => !guide.some((s) => s.heading === h)), [], 'sections the guide no longer has');
  });
});
