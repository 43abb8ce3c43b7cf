import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SealingError } from '../../src/core/errors.js';
import { eventsFrom, getPlan, isPlanState, nextState, planStates, stageOf, STATES, stateNumber } from '../../src/core/plans/index.js';

/** The task-state-flow document's tables, written out as `from --event--> to` lines. */
const SEED = {
  sealer: `Empty Allocate Allocated
Allocated AcquireDeals DealsAcquired
DealsAcquired AddPiece PieceAdded
PieceAdded BuildTreeD TreeDBuilt
TreeDBuilt AssignTicket TicketAssigned
TicketAssigned PC1 PC1Done
PC1Done PC2 PC2Done
PC2Done SubmitPC PCSubmitted
PCSubmitted ReSubmitPC PC2Done
PCSubmitted CheckPC PCLanded
PCLanded Persist Persisted
Persisted SubmitPersistance PersistanceSubmitted
PersistanceSubmitted AssignSeed SeedAssigned
SeedAssigned C1 C1Done
C1Done C2 C2Done
C2Done SubmitProof ProofSubmitted
ProofSubmitted ReSubmitProof C2Done
ProofSubmitted Finish Finished`,
  snapup: `Empty AllocatedSnapUpSector Allocated
Allocated AddPiece PieceAdded
PieceAdded BuildTreeD TreeDBuilt
TreeDBuilt SnapEncode SnapEncoded
SnapEncoded SnapProve SnapProved
SnapProved Persist Persisted
Persisted RePersist SnapProved
Persisted Finish Finished`,
  rebuild: `Empty AllocatedRebuildSector Allocated
Allocated AddPiece PieceAdded
PieceAdded BuildTreeD TreeDBuilt
TreeDBuilt PC1 PC1Done
PC1Done PC2 PC2Done
PC2Done CheckSealed SealedChecked
SealedChecked SkipSnap SnapDone
SealedChecked AddPiece SnapPieceAdded
SnapPieceAdded BuildTreeD SnapTreeDBuilt
SnapTreeDBuilt SnapEncode SnapEncoded
SnapEncoded SnapProve SnapDone
SnapDone Persist Persisted
Persisted SubmitPersistance Finished`,
};

describe('plans', () => {
  for (const [name, table] of Object.entries(SEED)) {
    it(`${name} is exactly the seed's transition table`, () => {
      const rows = getPlan(name).transitions.map((t) => `${t.from} ${t.event} ${t.to}`);
      assert.deepEqual(rows, table.split('\n'));
    });
  }

  it('keeps damocles state numbers', () => {
    assert.equal(STATES.length, 27, 'Generated (wdpost, which damocles never persists) appended after the sector states');
    assert.equal(stateNumber('Empty'), 0);
    assert.equal(stateNumber('PCSubmitted'), 9);
    assert.equal(stateNumber('Finished'), 17);
    assert.equal(stateNumber('Aborted'), 18);
    assert.equal(stateNumber('SnapDone'), 24);
    assert.equal(stateNumber('Generated'), 26);
  });

  it('walks the wdpost plan: a job taken, proven, handed back', () => {
    const plan = getPlan('wdpost');
    const end = (['AllocatedWdPoStJob', 'Generate', 'Finish'] as const).reduce((state, event) => nextState(plan, state, event), 'Empty' as (typeof STATES)[number]);
    assert.equal(end, 'Finished');
    assert.deepEqual(['Empty', 'Allocated', 'Generated'].map((s) => stageOf(plan, s as (typeof STATES)[number])), ['AllocateWdPoStJob', 'Generate', 'SubmitProof']);
  });

  it('walks the sealer plan from Empty to Finished on its happy path', () => {
    const plan = getPlan('sealer');
    const path = ['Allocate', 'AcquireDeals', 'AddPiece', 'BuildTreeD', 'AssignTicket', 'PC1', 'PC2', 'SubmitPC', 'CheckPC', 'Persist', 'SubmitPersistance', 'AssignSeed', 'C1', 'C2', 'SubmitProof', 'Finish'] as const;
    const end = path.reduce((state, event) => nextState(plan, state, event), 'Empty' as (typeof STATES)[number]);
    assert.equal(end, 'Finished');
  });

  it('takes any live state to Aborted on Abort, but not a finished one', () => {
    const plan = getPlan('snapup');
    assert.equal(nextState(plan, 'SnapEncoded', 'Abort'), 'Aborted');
    assert.throws(() => nextState(plan, 'Finished', 'Abort'), SealingError);
  });

  it('refuses an event the table does not list, as a critical error', () => {
    assert.throws(
      () => nextState(getPlan('sealer'), 'PC1Done', 'C2'),
      (err: SealingError) => err.level === 'Critical' && /C2 is not allowed in state PC1Done of the sealer plan/.test(err.message),
    );
  });

  it('lists the states each plan can be resumed into', () => {
    const snapup = getPlan('snapup');
    assert.deepEqual(planStates(snapup), ['Empty', 'Allocated', 'PieceAdded', 'TreeDBuilt', 'SnapEncoded', 'SnapProved', 'Persisted', 'Finished', 'Aborted']);
    assert.equal(isPlanState(snapup, 'TicketAssigned'), false);
    assert.equal(isPlanState(getPlan('sealer'), 'TreeDBuilt'), true);
    assert.equal(isPlanState(getPlan('sealer'), 'Aborted'), true);
    assert.deepEqual(eventsFrom(getPlan('rebuild'), 'SealedChecked'), ['SkipSnap', 'AddPiece']);
  });

  it('labels the stage a state waits for, per plan', () => {
    assert.equal(stageOf(getPlan('sealer'), 'TreeDBuilt'), 'AssignTicket');
    assert.equal(stageOf(getPlan('rebuild'), 'TreeDBuilt'), 'PC1');
    assert.equal(stageOf(getPlan('snapup'), 'TreeDBuilt'), 'SnapEncode');
    assert.equal(stageOf(getPlan('sealer'), 'Finished'), '-');
  });

  it('refuses an unknown plan by name', () => {
    assert.throws(() => getPlan('unseal'), /unknown plan "unseal": expected one of sealer, snapup, rebuild/);
  });
});
