import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { nextState, sealerPlan, TERMINAL_STATES, type EventName, type State, type Transition } from '../../src/core/plans/index.js';
import { OnChainState, SubmitResult, type AllocatedSector, type PollStateResp, type SubmitResp } from '../../src/core/wire/sealer.js';
import { BEFORE_PRECOMMIT } from '../../src/worker/thread.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { checkProperty } from '../helpers/property.js';
import { FakeSealer } from '../helpers/sealing.js';

/**
 * The plan's loops and roll-back: the worker takes them only on the manager's or the chain's word (a failed
 * message, an expired ticket), so a run takes them when the real answers say so, never by choice.
 */
const ANSWER_DRIVEN: readonly EventName[] = ['ReSubmitPC', 'ReSubmitProof', 'TicketExpired'];

/** The sealer plan's states in the order a sector goes through them. */
const PATH: readonly State[] = sealerPlan.transitions.filter((t) => !ANSWER_DRIVEN.includes(t.event)).map((t) => t.to);

/**
 * A submission fixes what came before it on chain, so the operator resumes a sector no further back than the
 * state after its latest one: a jump behind it (a new ticket for a landed pre-commit) drops the sector, as it
 * does in damocles, and that is an operator's choice to abort, not a run of the plan.
 */
const FLOOR_AFTER: Partial<Record<EventName, State>> = { SubmitPC: 'PCSubmitted', CheckPC: 'PCLanded' };

/** One run's choices, step by step: whether the step fails once first, and where the operator resumes it, if at all. */
interface Choices {
  retries: boolean[];
  resumes: (number | null)[];
}

/** What a worker keeps between the steps of one sector, as far as its manager calls depend on it. */
interface Run {
  s: FakeSealer;
  preResubmit: boolean;
  proofResubmit: boolean;
  seed: { Seed: string } | null;
  /** Whether PC2 ran: a resume before the pre-commit then re-submits it with reset, as the thread's setState does. */
  commR: boolean;
  log: string[];
}

const ok = (what: string, res: SubmitResp) =>
  assert.ok(res.Res === SubmitResult.Accepted || res.Res === SubmitResult.DuplicateSubmit, `${what} was answered ${JSON.stringify(res)}, which the worker cannot carry on from`);

/** Polls a submitted message until it has a fate, as the worker's wait steps do. */
const fate = (m: TestManager, method: 'Venus.PollPreCommitState' | 'Venus.PollProofState', run: Run) =>
  eventually(`${method} of ${run.log.join(' ')}`, async () => {
    const st = await m.call<PollStateResp>(method, [run.s.id]);
    return st.State === OnChainState.Pending || st.State === OnChainState.Packed ? undefined : st;
  }, 60_000);

/**
 * The manager calls the worker's step makes in state `from` before it applies `event` (src/worker/steps),
 * each answered as the step needs to carry on. A wait step's event is the chain's to decide: the returned
 * event is the one the real answer leads to.
 */
async function stepCalls(m: TestManager, run: Run, from: State, event: EventName): Promise<EventName> {
  const { s } = run;
  switch (`${from}/${event}`) {
    case 'Allocated/AcquireDeals':
      s.pieces = (await m.call<typeof s.pieces | null>('Venus.AcquireDeals', [s.id, { MaxDeals: 0, MinUsedSpace: null }])) ?? [];
      return event;
    case 'TreeDBuilt/AssignTicket':
      s.ticket = await m.call('Venus.AssignTicket', [s.id]);
      return event;
    case 'PC2Done/SubmitPC':
      ok(`SubmitPreCommit (reset ${run.preResubmit})`, await s.submitPreCommit(run.preResubmit));
      run.preResubmit = false;
      return event;
    case 'PCSubmitted/CheckPC': {
      const st = await fate(m, 'Venus.PollPreCommitState', run);
      if (st.State === OnChainState.Landed) return event;
      assert.equal(st.State, OnChainState.Failed, `the pre-commit's fate: ${JSON.stringify(st)}`);
      run.preResubmit = true;
      return 'ReSubmitPC';
    }
    case 'PCLanded/Persist': {
      const store = await m.call<{ Name: string } | null>('Venus.StoreReserveSpace', [s.id, 4096, ['local']]);
      assert.equal(store?.Name, 'local', 'room reserved in the persist store');
      s.persistFiles(join(m.home, 'persist'));
      return event;
    }
    case 'Persisted/SubmitPersistance':
      assert.equal(await m.call('Venus.SubmitPersistedEx', [s.id, 'local', false]), true, 'the manager found the persisted files');
      return event;
    case 'PersistanceSubmitted/AssignSeed':
      run.seed = await s.seed();
      return event;
    case 'C2Done/SubmitProof':
      ok(`SubmitProof (reset ${run.proofResubmit})`, await m.call<SubmitResp>('Venus.SubmitProof', [s.id, { Proof: s.proof(run.seed ?? assert.fail('no seed')) }, run.proofResubmit]));
      run.proofResubmit = false;
      return event;
    case 'ProofSubmitted/Finish': {
      const st = await fate(m, 'Venus.PollProofState', run);
      if (st.State === OnChainState.Landed) return event;
      assert.equal(st.State, OnChainState.Failed, `the proof's fate: ${JSON.stringify(st)}`);
      run.proofResubmit = true;
      return 'ReSubmitProof';
    }
    default:
      // Steps that only compute (add pieces, tree d, PC1, PC2, C1, C2) call nothing on the manager.
      return event;
  }
}

/** Runs the worker's side of one sector from its allocation to Finished, following the choices along the table. */
async function seal(m: TestManager, choices: Choices): Promise<string[]> {
  const sector = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
  const run: Run = { s: new FakeSealer(m, sector), preResubmit: false, proofResubmit: false, seed: null, commR: false, log: [] };
  const rows: readonly Transition[] = sealerPlan.transitions.filter((t) => !ANSWER_DRIVEN.includes(t.event));
  let state: State = 'Empty';
  let floor: State = 'Allocated';
  let resumes = 0;
  const report = async (prev: State, next: State, event: string, failure: { Level: string; Desc: string } | null = null) => {
    const resp = await run.s.report(prev, next, event, failure);
    assert.equal(resp.Finalized, false, `ReportState ${prev} --${event}--> ${next} was answered as a dropped sector: ${resp.AbortReason ?? ''}`);
  };
  await report('Empty', 'Allocated', 'Allocate');
  state = 'Allocated';
  for (let step = 0; !TERMINAL_STATES.includes(state); step++) {
    const resume = choices.resumes[step % choices.resumes.length] ?? null;
    if (resume !== null && resumes < 2) {
      // Paused by the operator and resumed (resume --state) in a state between the floor and here.
      const back = PATH.slice(PATH.indexOf(floor), PATH.indexOf(state) + 1);
      const to = back[resume % back.length] ?? state;
      resumes++;
      if (BEFORE_PRECOMMIT.includes(to) && run.commR) run.preResubmit = true;
      run.log.push(`${state}=SetState=>${to}`);
      await report(state, to, 'SetState');
      state = to;
    }
    const row = rows.find((t) => t.from === state) ?? assert.fail(`no way on from ${state}`);
    const from: State = state;
    try {
      if (choices.retries[step % choices.retries.length]) {
        // A temporary failure after the step's calls: the worker reports it and runs the step again.
        await stepCalls(m, { ...run, log: [...run.log, 'retried'] }, from, row.event);
        await report(from, from, 'Failure', { Level: 'Temporary', Desc: 'injected: the step failed once' });
      }
      const event = await stepCalls(m, run, from, row.event);
      if (event === 'PC2') run.commR = true;
      state = nextState(sealerPlan, from, event);
      floor = FLOOR_AFTER[event] ?? floor;
      run.log.push(`${from}-${event}->${state}`);
      await report(from, state, event);
    } catch (err) {
      throw new Error(`sector ${run.s.id.Number}, after ${run.log.join(' ')}, at ${from} --${row.event}-->: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  await m.call('Venus.ReportFinalized', [run.s.id]);
  const end = await m.call<{ Status: string }>('SealFleet.SectorState', [run.s.id]);
  assert.equal(end.Status, 'finalized', `the manager finalized the sector after ${run.log.join(' ')}`);
  return run.log;
}

describe("the manager's lifecycle accepts every sealer run the worker's plan allows (property, real daemon)", () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager(tempDir('lifecycle-props'));
  });
  after(() => m.daemon.kill());

  it('random runs to Finished, with retried steps and operator resumes, are never refused', { timeout: 240_000 }, async () => {
    const choices = fc.record({
      retries: fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
      resumes: fc.array(fc.option(fc.nat(), { freq: 6 }), { minLength: 1, maxLength: 40 }),
    });
    await checkProperty(
      fc.asyncProperty(fc.array(choices, { minLength: 3, maxLength: 3 }), async (runs) => {
        // Three sectors at once, as a worker's threads run them: their messages share the manager's batches.
        await Promise.all(runs.map((c) => seal(m, c)));
      }),
      6,
    );
  });
});
