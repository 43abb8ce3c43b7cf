import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import type { Recorded } from '../fixtures/recordingProcessor.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { spawnCli, tempDir } from '../helpers/processes.js';
import { WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/recordingProcessor.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** pc1 in an external child that takes `delayMs` a task; the other stages on the in-process mock. */
const processors = (record: string, delayMs: number) => `[processors]
default = "mock"
[processors.mock]
stage_time = "20ms"

[[processors.pc1]]
bin = "${process.execPath}"
args = ["--import", "${TSX}", "${FIXTURE}", "pc1"]
stable_wait = "60s"
envs = { RECORD_FILE = "${record}", RECORD_DELAY_MS = "${delayMs}" }
`;

const started = (record: string): Recorded[] =>
  existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded).filter((r) => r.phase === 'start') : [];

describe('a deliberate stop of the worker (real processes)', () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager(tempDir('worker-stop'));
  });
  after(() => m.daemon.kill());

  it("Ctrl-C in the middle of a processor's task logs no failure, and the restarted worker runs the step again", async () => {
    const dir = tempDir('worker-stop-w');
    const record = join(dir, 'pc1.jsonl');
    const config = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], processors: processors(record, 600_000) });
    const first = spawnCli(WORKER_BIN, ['daemon', '-c', config], {}, [], { group: true });
    try {
      await first.waitFor(/"worker up"/, 30_000);
      await eventually('a pc1 task running in the child', async () => (started(record).length > 0 ? true : undefined), 60_000);
    } finally {
      // The terminal's Ctrl-C reaches every process of the foreground group, the processor child included.
      assert.equal(await first.killGroup('SIGINT'), 0, first.stderr());
    }
    const logged = first.stdout().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: number; msg: string });
    assert.deepEqual(logged.filter((l) => l.level >= 40), [], 'warnings or errors on a deliberate stop');
    const [sector] = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);
    assert.ok(sector);
    assert.equal(sector.State, 'TicketAssigned');
    const failures = async () => (await m.call<SectorEvent[]>('SealFleet.SectorLog', [{ Miner: sector.Miner, Number: sector.Number }])).filter((e) => e.FailureLevel !== null);
    assert.deepEqual(await failures(), []);

    // The step the stop cut short runs again, now quickly, and the sector goes on to the end.
    const again = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], processors: processors(record, 0) });
    const second = spawnCli(WORKER_BIN, ['daemon', '-c', again], {}, [], { group: true });
    try {
      await eventually('the sector finalized', async () => ((await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }])).some((s) => s.Sector === sector.Sector) ? true : undefined), 60_000);
    } finally {
      assert.equal(await second.killGroup('SIGINT'), 0, second.stderr());
    }
    assert.deepEqual(await failures(), []);
    assert.ok(started(record).length >= 2, 'pc1 ran again after the restart');
  });
});
