/**
 * Every sector state, in damocles' declaration order: the index is the number damocles persists, so a
 * record written by either implementation reads the same.
 */
export const STATES = [
  'Empty',
  'Allocated',
  'DealsAcquired',
  'PieceAdded',
  'TreeDBuilt',
  'TicketAssigned',
  'PC1Done',
  'PC2Done',
  'SyntheticPoRepNeeded',
  'PCSubmitted',
  'PCLanded',
  'Persisted',
  'PersistanceSubmitted',
  'SeedAssigned',
  'C1Done',
  'C2Done',
  'ProofSubmitted',
  'Finished',
  'Aborted',
  'SnapEncoded',
  'SnapProved',
  'SealedChecked',
  'SnapPieceAdded',
  'SnapTreeDBuilt',
  'SnapDone',
  'Unsealed',
  // wdpost: damocles numbers its states apart (they are never persisted); appended here.
  'Generated',
] as const;
export type State = (typeof STATES)[number];

/** Events named as in the task-state-flow document; `Abort` is the special move of any live state to `Aborted`. */
export const EVENTS = [
  'Allocate',
  'AcquireDeals',
  'AddPiece',
  'BuildTreeD',
  'AssignTicket',
  'PC1',
  'PC2',
  'SubmitPC',
  'ReSubmitPC',
  'CheckPC',
  'Persist',
  'SubmitPersistance',
  'AssignSeed',
  'C1',
  'C2',
  'SubmitProof',
  'ReSubmitProof',
  'Finish',
  'AllocatedSnapUpSector',
  'SnapEncode',
  'SnapProve',
  'RePersist',
  'AllocatedRebuildSector',
  'CheckSealed',
  'SkipSnap',
  'Abort',
  'TicketExpired',
  'AllocatedWdPoStJob',
  'Generate',
] as const;
export type EventName = (typeof EVENTS)[number];

/** Plans that seal a sector: the manager follows each through its sector lifecycle. */
export const SECTOR_PLAN_NAMES = ['sealer', 'snapup', 'rebuild'] as const;
export type SectorPlanName = (typeof SECTOR_PLAN_NAMES)[number];

/** Every plan a thread may run: the sector plans, and `wdpost`, which proves deadlines and holds no sector. */
export const PLAN_NAMES = [...SECTOR_PLAN_NAMES, 'wdpost'] as const;
export type PlanName = (typeof PLAN_NAMES)[number];

/** `from` state, on `event`, goes `to`: one row of a plan's transition table. */
export interface Transition {
  from: State;
  event: EventName;
  to: State;
}

export interface Plan {
  name: PlanName;
  /** The task-state-flow document's table, unchanged. */
  transitions: readonly Transition[];
  /** Our additions: roll-backs a step may take on its own (an expired ticket sends PC2Done back to TreeDBuilt). */
  rollbacks: readonly Transition[];
  /** The step each non-terminal state is waiting to run, as shown in the `stage` column of `worker list`. */
  stages: Partial<Record<State, string>>;
}

export const isState = (text: string): text is State => (STATES as readonly string[]).includes(text);
export const isPlanName = (text: string): text is PlanName => (PLAN_NAMES as readonly string[]).includes(text);
export const stateNumber = (state: State): number => STATES.indexOf(state);
