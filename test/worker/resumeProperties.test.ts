import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { planStates, sealerPlan, type State } from '../../src/core/plans/index.js';
import type { ThreadEvent, WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { checkProperty } from '../helpers/property.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/** Every state `resume --state` names for the thread's plan, Finished, Aborted and Empty included. */
const RESUME_STATES = planStates(sealerPlan);

describe('a paused thread resumed in any state of its plan carries on to Finished or Aborted (property, real daemons)', () => {
  let m: TestManager;
  let w: TestWorker;
  before(async () => {
    m = await startTestManager(tempDir('resume-props'));
    const cfg = await writeWorkerConfig(tempDir('resume-props-worker'), m, {
      threads: [{ plan: 'sealer' }],
      maxRetries: 1,
      processors: '[processors]\ndefault = "mock"\n\n[processors.mock]\nstage_time = "5ms"\n',
    });
    w = await startTestWorker(cfg);
  });
  after(async () => {
    await w.daemon.kill();
    await m.daemon.kill();
  });

  const thread = async (): Promise<WorkerThreadInfo> => (await w.list())[0] ?? assert.fail('the worker lists no thread');
  const log = (sector: string) => w.control.call<ThreadEvent[]>('VenusWorker.WorkerLog', [0, 10_000]).then((rows) => rows.filter((r) => r.sector === sector));
  const record = async (sector: string) => (await m.call<SectorSummary[]>('SealFleet.SectorsList', [{}])).find((s) => s.Sector === sector);

  it('pauses at a random transition, resumes in a random state, and the sector ends as the manager records it', { timeout: 600_000 }, async () => {
    await checkProperty(
      fc.asyncProperty(fc.integer({ min: 1, max: 14 }), fc.constantFrom(...RESUME_STATES), async (transitions, to) => {
        // The moment: the current sector has made this many moves of its plan (its first or a later one).
        const pauseAt = async (): Promise<WorkerThreadInfo> => {
          await eventually(`a sector with ${transitions} transitions`, async () => {
            const t = await thread();
            if (!t.job_id || t.thread_state.state === 'Paused') return undefined;
            const moves = (await log(t.job_id)).filter((r) => r.event !== 'Retry' && r.event !== 'SetState');
            return moves.length >= transitions ? t.job_id : undefined;
          }, 60_000);
          assert.equal(await w.control.call('VenusWorker.WorkerPause', [0]), true);
          return eventually('the thread paused', async () => {
            const t = await thread();
            return t.thread_state.state === 'Paused' ? t : undefined;
          }, 60_000);
        };
        let paused = await pauseAt();
        while (paused.job_id === null) {
          // The sector ended between the count and the pause, and the next is not allocated yet: try again.
          assert.equal(await w.control.call('VenusWorker.WorkerResume', [0, null]), true);
          paused = await pauseAt();
        }
        const held = paused.job_id;
        if (to === 'Empty') {
          // Empty would forget the sector the thread holds: refused, and the thread carries on where it was.
          await assert.rejects(w.control.call('VenusWorker.WorkerResume', [0, to]), new RegExp(`holds sector ${held}: resuming in Empty would leave it sealing at the manager`));
          assert.equal((await thread()).thread_state.state, 'Paused', 'the refused resume left the thread paused');
          assert.equal(await w.control.call('VenusWorker.WorkerResume', [0, null]), true);
        } else {
          assert.equal(await w.control.call('VenusWorker.WorkerResume', [0, to]), true, `resumed ${held} in ${to}`);
        }

        let operatorAborts = 0;
        const end = await eventually(`${held}, resumed in ${to}, ends`, async () => {
          const t = await thread();
          if (t.job_id === held && t.thread_state.state === 'Paused') {
            // Carrying on from a pause with an error is the operator's: they drop the sector.
            assert.ok(t.last_error, `${held} was left paused in ${t.job_state} without an error`);
            assert.ok(operatorAborts++ < 2, `${held} pauses again after the operator aborted it: ${t.last_error}`);
            await w.control.call('VenusWorker.WorkerResume', [0, 'Aborted']);
            return undefined;
          }
          const rec = await record(held);
          assert.ok(rec, `the manager knows ${held}`);
          if (t.job_id !== held && rec.Status === 'sealing') {
            // The thread let go of the sector (and is sealing another) while the manager still waits on it.
            assert.fail(`the thread left ${held} (resumed in ${to}) for ${t.job_id ?? 'none'}, still sealing at the manager in ${rec.Stage}`);
          }
          return t.job_id !== held && rec.Status !== 'sealing' ? rec : undefined;
        }, 90_000);
        const last = (await log(held)).filter((r) => r.to === 'Finished' || r.to === 'Aborted').at(-1)?.to as State | undefined;
        assert.ok(last, `${held} reached Finished or Aborted on the worker`);
        assert.equal(end.Status, last === 'Finished' ? 'finalized' : 'aborted', `the manager records ${held} as the worker ended it (${last})`);
      }),
      8,
    );
  });
});
