import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { cidToCommitment, unsealedSectorCommitment } from '../../src/core/commitment.js';
import { mockUpdateProof } from '../../src/core/mockProof.js';
import { nextState, sealerPlan, snapupPlan, TERMINAL_STATES, type EventName, type Plan, type State } from '../../src/core/plans/index.js';
import { OnChainState, SubmitResult, type AllocatedSector, type PollStateResp, type SectorPieceV2, type SubmitResp } from '../../src/core/wire/sealer.js';
import { BEFORE_PRECOMMIT } from '../../src/worker/thread.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { checkProperty } from '../helpers/property.js';
import { FakeSealer } from '../helpers/sealing.js';

/**
 * The plan's loops and roll-back: the worker takes them only on the manager's or the chain's word (a failed
 * message, an expired ticket), so a run takes them when the real answers say so, never by choice.
 */
const ANSWER_DRIVEN: readonly EventName[] = ['ReSubmitPC', 'ReSubmitProof', 'TicketExpired', 'RePersist'];

/** A plan's states in the order a sector goes through them. */
const pathOf = (plan: Plan): State[] => plan.transitions.filter((t) => !ANSWER_DRIVEN.includes(t.event)).map((t) => t.to);

/**
 * A submission fixes what came before it on chain, so the operator resumes a sector no further back than the
 * state after its latest one: a jump behind it (a new ticket for a landed pre-commit) drops the sector, as it
 * does in damocles, and that is an operator's choice to abort, not a run of the plan.
 */
const FLOOR_AFTER: Partial<Record<EventName, State>> = { SubmitPC: 'PCSubmitted', CheckPC: 'PCLanded' };

/** What a snap-up worker computed for its sector (its update's commitments and proof), as its steps would. */
interface Upgrade {
  CommR: number[];
  CommD: number[];
  AccessInstance: string;
  Pieces: { '/': string }[];
  Proof: string;
}

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
  upgrade: Upgrade | null;
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
    case 'SnapProved/Persist': {
      const store = await m.call<{ Name: string } | null>('Venus.StoreReserveSpace', [s.id, 4096, [run.upgrade?.AccessInstance ?? 'local']]);
      assert.equal(store?.Name, 'local', 'room reserved next to the sealed replica');
      s.persistFiles(join(m.home, 'persist'), true);
      return event;
    }
    case 'Persisted/Finish': {
      const res = await m.call<SubmitResp>('Venus.SubmitSnapUpProof', [s.id, run.upgrade ?? assert.fail('no update computed')]);
      if (res.Res === SubmitResult.FilesMissed) return 'RePersist';
      ok('SubmitSnapUpProof', res);
      return event;
    }
    default:
      // Steps that only compute (add pieces, tree d, PC1, PC2, C1, C2) call nothing on the manager.
      return event;
  }
}

/** Runs the worker's side of one allocated sector to Finished, following the choices along the plan's table. */
async function drive(m: TestManager, plan: Plan, sector: AllocatedSector, choices: Choices, upgrade: Upgrade | null = null): Promise<void> {
  const run: Run = { s: new FakeSealer(m, sector), preResubmit: false, proofResubmit: false, seed: null, upgrade, commR: false, log: [] };
  const rows = plan.transitions.filter((t) => !ANSWER_DRIVEN.includes(t.event));
  const path = pathOf(plan);
  let state: State = 'Empty';
  let floor: State = 'Allocated';
  let resumes = 0;
  const report = async (prev: State, next: State, event: string, failure: { Level: string; Desc: string } | null = null) => {
    const resp = await run.s.report(prev, next, event, failure);
    assert.equal(resp.Finalized, false, `ReportState ${prev} --${event}--> ${next} was answered as a dropped sector: ${resp.AbortReason ?? ''}`);
  };
  await report('Empty', 'Allocated', rows[0]?.event ?? 'Allocate');
  state = 'Allocated';
  for (let step = 0; !TERMINAL_STATES.includes(state); step++) {
    const resume = choices.resumes[step % choices.resumes.length] ?? null;
    if (resume !== null && resumes < 2) {
      // Paused by the operator and resumed (resume --state) in a state between the floor and here.
      const back = path.slice(path.indexOf(floor), path.indexOf(state) + 1);
      const to = back[resume % back.length] ?? state;
      resumes++;
      if (plan.name === 'sealer' && BEFORE_PRECOMMIT.includes(to) && run.commR) run.preResubmit = true;
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
      state = nextState(plan, from, event);
      floor = FLOOR_AFTER[event] ?? floor;
      run.log.push(`${from}-${event}->${state}`);
      await report(from, state, event);
    } catch (err) {
      throw new Error(`sector ${run.s.id.Number}, after ${run.log.join(' ')}, at ${from} --${row.event}-->: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  await m.call('Venus.ReportFinalized', [run.s.id]);
  // A snap-up is finalized when its update lands; a sealed sector by the report.
  await eventually(`the manager finalized ${plan.name} sector ${run.s.id.Number} after ${run.log.join(' ')}`, async () => {
    const end = await m.call<{ Status: string }>('SealFleet.SectorState', [run.s.id]);
    assert.notEqual(end.Status, 'aborted');
    return end.Status === 'finalized' ? true : undefined;
  }, 60_000);
}

const allocateSector = (m: TestManager) => m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);

/** A snap-up as a worker gets it: a deal piece imported for it, the CC sector it fills, and the update it computes. */
async function allocateSnapUp(m: TestManager): Promise<{ sector: AllocatedSector; upgrade: Upgrade }> {
  const file = join(tempDir('snap-piece'), 'payload.bin');
  writeFileSync(file, randomBytes(1500));
  const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
  assert.equal(imported.code, 0, imported.stderr);
  const snap = await m.call<{ Sector: AllocatedSector; Pieces: SectorPieceV2[]; Public: { CommR: number[] }; Private: { AccessInstance: string } } | null>('Venus.AllocateSanpUpSector', [
    { Sector: { AllowedMiners: null, AllowedProofTypes: null }, Deals: { MaxDeals: null, MinUsedSpace: null } },
  ]);
  assert.ok(snap, 'a CC sector to fill with the imported piece');
  const newCommD = unsealedSectorCommitment(2048, snap.Pieces.map((p) => ({ size: p.Piece.Size, commitment: cidToCommitment('unsealed', p.Piece.PieceCID['/']) })));
  const newCommR = randomBytes(32);
  // A valid field element, as a real CommR is.
  newCommR[31] = (newCommR[31] as number) & 0x3f;
  const proof = mockUpdateProof({ miner: snap.Sector.ID.Miner, number: snap.Sector.ID.Number, updateProof: 0, oldCommR: Uint8Array.from(snap.Public.CommR), newCommR, newCommD });
  return {
    sector: snap.Sector,
    upgrade: { CommR: Array.from(newCommR), CommD: Array.from(newCommD), AccessInstance: snap.Private.AccessInstance, Pieces: snap.Pieces.map((p) => p.Piece.PieceCID), Proof: Buffer.from(proof).toString('base64') },
  };
}


describe("the manager's lifecycle accepts every run the worker's plans allow (property, real daemon)", () => {
  let m: TestManager;
  before(async () => {
    m = await startTestManager(tempDir('lifecycle-props'));
  });
  after(() => m.daemon.kill());

  const choices = fc.record({
    retries: fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
    resumes: fc.array(fc.option(fc.nat(), { freq: 6 }), { minLength: 1, maxLength: 40 }),
  });

  it('sealer: random runs to Finished, with retried steps and operator resumes, are never refused', { timeout: 240_000 }, async () => {
    await checkProperty(
      fc.asyncProperty(fc.array(choices, { minLength: 3, maxLength: 3 }), async (runs) => {
        // Three sectors at once, as a worker's threads run them: their messages share the manager's batches.
        await Promise.all(runs.map(async (c) => drive(m, sealerPlan, await allocateSector(m), c)));
      }),
      6,
    );
  });

  it('snapup: random runs to Finished of the CC sectors sealed above are never refused', { timeout: 240_000 }, async () => {
    await checkProperty(
      fc.asyncProperty(choices, async (c) => {
        const { sector, upgrade } = await allocateSnapUp(m);
        await drive(m, snapupPlan, sector, c, upgrade);
      }),
      4,
    );
  });
});
