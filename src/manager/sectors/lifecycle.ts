import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { SECTOR_PLAN_NAMES, type SectorPlanName } from '../../core/plans/types.js';
import { formatSectorId } from '../../core/sectorId.js';

/**
 * The manager's sector lifecycle as data: which stages a sector of each plan goes through, and which named
 * transition takes it from where to where. The sector store applies only these transitions, so a sector
 * cannot reach a combination of plan and stage that no row of this table leads to.
 */

/** What the manager does with a sector, as operators and workers see it (`SectorsList`, `SectorEnded`). */
export const SECTOR_STATUSES = ['sealing', 'finalized', 'aborted'] as const;
export type SectorStatus = (typeof SECTOR_STATUSES)[number];

/**
 * The manager's plans are the workers' sector plans: a plan added there must be given its lifecycle here. The
 * workers' `wdpost` plan holds no sector; its jobs are the manager's proving jobs (proving/wdpostJobs.ts).
 */
export const SECTOR_PLANS = SECTOR_PLAN_NAMES;
export type SectorPlan = SectorPlanName;

/** Where a sector is within its plan: finer than its status, which each stage determines. */
export const STATUS_OF = {
  /** Numbered and handed to a worker; deals and a ticket may be recorded. */
  allocated: 'sealing',
  /** Its pre-commit waits for its miner's batch. */
  precommit_queued: 'sealing',
  /** Its pre-commit is in a message (or was on chain already). */
  precommit_sent: 'sealing',
  /** Its proof waits for its miner's batch. */
  proof_queued: 'sealing',
  /** Its proof is in a message. */
  proof_sent: 'sealing',
  /** A snap-up worker fills it with pieces. */
  upgrading: 'sealing',
  /** Its replica update waits for its miner's batch. */
  upgrade_queued: 'sealing',
  /** Its replica update is in a message. */
  upgrade_sent: 'sealing',
  /** A rebuild worker seals its replica again. */
  rebuilding: 'sealing',
  /** On chain and done with. */
  finalized: 'finalized',
  /** Finalized, and waiting for a rebuild worker. */
  rebuild_queued: 'finalized',
  /** Dropped before it reached the chain. */
  aborted: 'aborted',
} as const satisfies Record<string, SectorStatus>;
export type SectorStage = keyof typeof STATUS_OF;
export const SECTOR_STAGES = Object.keys(STATUS_OF) as SectorStage[];

const SEALER_SEALING = ['allocated', 'precommit_queued', 'precommit_sent', 'proof_queued', 'proof_sent'] as const;
const SNAPUP_SEALING = ['upgrading', 'upgrade_queued', 'upgrade_sent'] as const;
const AT_REST = ['finalized', 'rebuild_queued'] as const;

/** The stages a sector of each plan can be in. */
export const PLAN_STAGES = {
  sealer: [...SEALER_SEALING, ...AT_REST, 'aborted'],
  snapup: [...SNAPUP_SEALING, ...AT_REST],
  rebuild: ['rebuilding'],
} as const satisfies Record<SectorPlan, readonly SectorStage[]>;
type StageOf<P extends SectorPlan> = (typeof PLAN_STAGES)[P][number];

/**
 * One plan's part of a transition. `to` absent: the sector keeps its stage (the transition records data).
 * `plan` absent: the sector keeps its plan; `as-sealed`: it goes back to the plan its sealed replica came
 * from, `snapup` if it carries an upgrade, else `sealer`.
 */
export interface Move<P extends SectorPlan = SectorPlan> {
  readonly from: readonly StageOf<P>[];
  readonly to?: SectorStage;
  readonly plan?: SectorPlan | 'as-sealed';
}
type Rules = { readonly [P in SectorPlan]: Move<P> | null };

const BEFORE_PROOF = ['allocated', 'precommit_queued', 'precommit_sent'] as const;
const PRE_COMMITTED = ['precommit_sent', 'proof_queued', 'proof_sent'] as const;
/** Stages of a sector that is on chain as far as proving goes: sealed, upgrading its CC replica, or rebuilding it. */
const ON_CHAIN: Rules = {
  sealer: { from: AT_REST },
  snapup: { from: [...SNAPUP_SEALING, ...AT_REST] },
  rebuild: { from: ['rebuilding'] },
};
const sealerOnly = (move: Move<'sealer'>): Rules => ({ sealer: move, snapup: null, rebuild: null });
const snapupOnly = (move: Move<'snapup'>): Rules => ({ sealer: null, snapup: move, rebuild: null });

/**
 * Every transition of a sector record, by the name its event row carries; for each plan, the stages it
 * leaves from (none: the plan has no such transition) and where it leads. Each plan must be answered for
 * in every row: a new plan does not inherit another's rules.
 */
export const TRANSITIONS = {
  /** The one transition that creates a record: it leaves from no stage. */
  SectorAllocated: sealerOnly({ from: [], to: 'allocated' }),
  DealsAcquired: sealerOnly({ from: ['allocated'] }),
  TicketAssigned: sealerOnly({ from: BEFORE_PROOF }),
  PreCommitQueued: sealerOnly({ from: BEFORE_PROOF, to: 'precommit_queued' }),
  /** The chain had the pre-commit before anything was sent (a crash after the push): nothing to send. */
  PreCommitOnChain: sealerOnly({ from: BEFORE_PROOF, to: 'precommit_sent' }),
  PreCommitSent: sealerOnly({ from: ['precommit_queued'], to: 'precommit_sent' }),
  SeedAssigned: sealerOnly({ from: PRE_COMMITTED }),
  ProofQueued: sealerOnly({ from: PRE_COMMITTED, to: 'proof_queued' }),
  ProofSent: sealerOnly({ from: ['proof_queued'], to: 'proof_sent' }),
  Persisted: { sealer: { from: SEALER_SEALING }, snapup: { from: SNAPUP_SEALING }, rebuild: { from: ['rebuilding'] } },
  /** A snap-up is finished by its landed update (UpgradeLanded), not by its worker. */
  Finalized: { sealer: { from: ['proof_sent'], to: 'finalized' }, snapup: null, rebuild: { from: ['rebuilding'], to: 'finalized', plan: 'as-sealed' } },
  AbortRequested: { sealer: { from: SEALER_SEALING }, snapup: { from: SNAPUP_SEALING }, rebuild: { from: ['rebuilding'] } },
  /** A failed snap-up or rebuild leaves the sector on chain as it was. */
  Aborted: {
    sealer: { from: SEALER_SEALING, to: 'aborted' },
    snapup: { from: SNAPUP_SEALING, to: 'finalized', plan: 'sealer' },
    rebuild: { from: ['rebuilding'], to: 'finalized', plan: 'as-sealed' },
  },
  /**
   * Handed to a worker by an allocation, and no worker ever reported on it: its worker died or lost the
   * answer (a manager killed before answering). A new sector is dropped, a snap-up leaves the CC sector as
   * it was, a rebuild goes back to the queue for the next worker.
   */
  OrphanReleased: {
    sealer: { from: ['allocated'], to: 'aborted' },
    snapup: { from: ['upgrading'], to: 'finalized', plan: 'sealer' },
    rebuild: { from: ['rebuilding'], to: 'rebuild_queued', plan: 'as-sealed' },
  },
  SnapUpAllocated: sealerOnly({ from: ['finalized'], to: 'upgrading', plan: 'snapup' }),
  UpgradeQueued: snapupOnly({ from: ['upgrading'], to: 'upgrade_queued' }),
  UpgradeSent: snapupOnly({ from: ['upgrade_queued'], to: 'upgrade_sent' }),
  /** The update message failed in a way worth another try. */
  UpgradeResend: snapupOnly({ from: ['upgrade_sent'], to: 'upgrade_queued' }),
  UpgradeLanded: snapupOnly({ from: ['upgrade_sent'], to: 'finalized' }),
  RebuildRequested: { sealer: { from: AT_REST, to: 'rebuild_queued' }, snapup: { from: AT_REST, to: 'rebuild_queued' }, rebuild: null },
  RebuildAllocated: {
    sealer: { from: ['rebuild_queued'], to: 'rebuilding', plan: 'rebuild' },
    snapup: { from: ['rebuild_queued'], to: 'rebuilding', plan: 'rebuild' },
    rebuild: null,
  },
  /*
   * The sector's life on chain (proving/): each records what was sent or seen, the sector keeps its stage.
   */
  /** Its files were missing or unreadable when its deadline was proven: left out of the proof. */
  PoStSkipped: ON_CHAIN,
  FaultDeclared: ON_CHAIN,
  RecoveryDeclared: ON_CHAIN,
  /** Proven again after a declared recovery. */
  Recovered: ON_CHAIN,
  ExpirationExtended: ON_CHAIN,
  Terminated: ON_CHAIN,
  /** A declaration, extension or termination about the sector failed on chain: nothing of it happened. */
  ChainMessageFailed: ON_CHAIN,
} as const satisfies Record<string, Rules>;
/** The transitions that record the sector's life on chain. */
export const LIFE_TRANSITIONS = ['PoStSkipped', 'FaultDeclared', 'RecoveryDeclared', 'Recovered', 'ExpirationExtended', 'Terminated', 'ChainMessageFailed'] as const satisfies readonly TransitionName[];
export type LifeTransition = (typeof LIFE_TRANSITIONS)[number];
export type TransitionName = keyof typeof TRANSITIONS;
export const TRANSITION_NAMES = Object.keys(TRANSITIONS) as TransitionName[];

/** Where a sector stands in its lifecycle. */
export interface LifecyclePosition {
  plan: SectorPlan;
  stage: SectorStage;
}

/** The part of a transition `name` has for `plan`, or null when the plan has no such transition. */
export function moveOf(name: TransitionName, plan: SectorPlan): Move | null {
  return (TRANSITIONS[name] as Rules)[plan];
}

export function isAllowed(name: TransitionName, at: LifecyclePosition): boolean {
  return (moveOf(name, at.plan)?.from as readonly SectorStage[] | undefined)?.includes(at.stage) ?? false;
}

/**
 * Where transition `name` takes the sector, or an error a person can act on: what the sector is now, and
 * from where the transition is allowed. `upgraded`: the sector carries a replica update (for `as-sealed`).
 */
export function nextPosition(name: TransitionName, sector: { miner: number; number: number }, at: LifecyclePosition, upgraded: boolean): LifecyclePosition {
  const move = moveOf(name, at.plan);
  if (!move || !isAllowed(name, at)) throw refusal(name, sector, at, move);
  const plan = move.plan === undefined ? at.plan : move.plan === 'as-sealed' ? (upgraded ? 'snapup' : 'sealer') : move.plan;
  return { plan, stage: move.to ?? at.stage };
}

/** A transition the table does not allow from where the sector is (another call or manager moved it first, or a bad request). */
export class TransitionRefused extends RpcError {
  constructor(message: string) {
    super(RPC_CODES.Application, message);
  }
}

function refusal(name: TransitionName, sector: { miner: number; number: number }, at: LifecyclePosition, move: Move | null): TransitionRefused {
  const id = formatSectorId({ miner: Number(sector.miner), number: Number(sector.number) });
  const now = `sector ${id} is ${at.stage} (${STATUS_OF[at.stage]}) under the ${at.plan} plan`;
  const allowed = (move?.from ?? []) as readonly SectorStage[];
  const why =
    allowed.length > 0
      ? `${name} applies to a ${at.plan} sector only when it is ${allowed.join(' or ')}`
      : `${name} never applies to a sector under the ${at.plan} plan${move ? ' that exists already' : ''}`;
  return new TransitionRefused(`${name} refused: ${now}; ${why}`);
}

/** Where SectorAllocated puts a new sector. */
export function allocatedPosition(): LifecyclePosition {
  for (const plan of SECTOR_PLANS) {
    const to = moveOf('SectorAllocated', plan)?.to;
    if (to) return { plan, stage: to };
  }
  throw new Error('the lifecycle table allocates sectors under no plan');
}

/** How a lifecycle position reads in the event log's from / to columns. */
export const positionLabel = (at: LifecyclePosition): string => `${at.plan}/${at.stage}`;
