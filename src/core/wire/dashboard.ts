/**
 * What the manager's `SealFleet.Dashboard*` and `SealFleet.Worker{Pause,Resume,Drain}` methods answer. Types
 * only (and a few constants), without imports: the dashboard's browser build shares them with the manager.
 */

/** A ping older than this marks its worker expired (the default of `util worker list --expire`). */
export const PING_EXPIRED_MS = 600_000;
/**
 * A sector is "slow" in a state when it has been there longer than SLOW_FACTOR × the p90 of the completed
 * stays in that state, and longer than SLOW_FLOOR_MS (a stage that usually takes milliseconds is not worth
 * an alarm after two seconds). Below SLOW_MIN_SAMPLES completed stays there is no "usual" to compare with.
 */
export const SLOW_FACTOR = 3;
export const SLOW_FLOOR_MS = 60_000;
export const SLOW_MIN_SAMPLES = 5;
/** A ticket is "close to expiry" once this share of the chain's pre-commit randomness lookback has passed. */
export const TICKET_WARN_SHARE = 0.8;

/** `SealFleet.DashboardSession`: what the token in use may do. */
export interface DashboardSession {
  Perm: 'read' | 'write' | 'sign' | 'admin';
  Worker: string | null;
}

export interface ThreadSummary {
  Threads: number;
  Empty: number;
  Paused: number;
  Running: number;
  Waiting: number;
  Errors: number;
}

export interface WorkerRow {
  Name: string;
  Dest: string;
  Version: string;
  LastPing: number;
  PingAgeMs: number;
  Expired: boolean;
  Summary: ThreadSummary;
}

export type AttentionKind = 'paused-thread' | 'slow-sector' | 'expired-ping' | 'ticket-expiring' | 'worker-unreachable';

export interface AttentionItem {
  Kind: AttentionKind;
  Worker: string | null;
  Thread: number | null;
  Sector: string | null;
  /** Since when the condition holds (ms), where known. */
  Since: number | null;
  Text: string;
}

/** A thread that is paused or carries an error, as its worker lists it. */
export interface TroubledThread {
  Worker: string;
  Index: number;
  Plan: string;
  Sector: string | null;
  State: string;
  Paused: boolean;
  LastError: string | null;
}

export interface HourCount {
  /** Start of the hour, ms. */
  Hour: number;
  Count: number;
}

/** `SealFleet.DashboardOverview`. */
export interface Overview {
  Now: number;
  Workers: WorkerRow[];
  /** Threads by state, summed over the workers' last pings. */
  Threads: ThreadSummary;
  Sectors: { sealing: number; finalized: number; aborted: number };
  Troubled: TroubledThread[];
  Attention: AttentionItem[];
  /** The last 24 hours, oldest first: sectors whose worker reported `Finished`. */
  FinishedPerHour: HourCount[];
}

export interface StateCount {
  Plan: string;
  State: string;
  Count: number;
}

export interface StageCount {
  Plan: string;
  Stage: string;
  Count: number;
}

/** Completed stays of sectors in one worker state (from the sector event history). */
export interface StateDuration {
  State: string;
  Count: number;
  P50Ms: number;
  P90Ms: number;
  MaxMs: number;
  /** Counts of stays of at most `LeMs` (and above the previous bucket's). */
  Buckets: { LeMs: number; Count: number }[];
}

/** `SealFleet.DashboardPipeline`. */
export interface Pipeline {
  Now: number;
  /** Every sector by plan and the state its worker last reported ("-" before the first report). */
  ByState: StateCount[];
  /** Every sector by plan and the manager's lifecycle stage. */
  ByStage: StageCount[];
  Durations: StateDuration[];
}

/** One event of a sector's history at the manager (`SealFleet.SectorLog`). */
export interface SectorEvent {
  At: number;
  Worker: string | null;
  Location: string | null;
  Prev: string | null;
  Next: string | null;
  Event: string | null;
  FailureLevel: string | null;
  FailureDesc: string | null;
}

export interface SectorEventView extends SectorEvent {
  /** Since the sector's previous event. */
  TookMs: number | null;
}

/** A row of the thread's own log on its worker, where step and processor times are measured. */
export interface ThreadLogRow {
  at: number;
  sector: string | null;
  from: string;
  event: string;
  to: string;
  level: string | null;
  error: string | null;
  took_ms: number | null;
  processor_ms: number | null;
}

export interface ChainView {
  /** The pre-commit as the chain holds it (null: none, e.g. not sent yet or proven). */
  PreCommit: { SealedCID: string; SealRandEpoch: number; PreCommitEpoch: number; Deposit: string } | null;
  /** The sector's on-chain info (null: not proven yet). */
  Sector: { SealedCID: string; SectorKeyCID: string | null; Activation: number; Expiration: number } | null;
  Head: number | null;
  /** Why the chain could not be asked; then the other fields are null. */
  Error: string | null;
}

export type SectorAction = 'abort' | 'rebuild';

/** `SealFleet.DashboardSector`. */
export interface SectorView {
  Record: {
    Sector: string;
    Miner: number;
    Number: number;
    Status: string;
    Plan: string;
    Stage: string;
    State: string | null;
    Worker: string | null;
    Location: string | null;
    CreatedAt: number;
    UpdatedAt: number;
    AbortReason: string | null;
    AbortRequested: string | null;
    ProofType: number;
    PreCommitMessage: string | null;
    ProveMessage: string | null;
    UpgradeMessage: string | null;
    PersistInstance: string | null;
  };
  Events: SectorEventView[];
  /** The worker thread that holds the sector now, if its worker answered. */
  Thread: { Worker: string; Index: number; Paused: boolean } | null;
  /** The holding thread's log rows for this sector (step and processor times). */
  ThreadLog: ThreadLogRow[];
  /** Why the worker's side is missing, when it is. */
  WorkerError: string | null;
  Chain: ChainView;
  Actions: SectorAction[];
}

export interface ThreadView {
  index: number;
  location: string;
  plan: string;
  job_id: string | null;
  job_state: string;
  job_stage: string | null;
  last_error: string | null;
  thread_state: { state: 'Idle' | 'Running' | 'Waiting' | 'Paused'; elapsed?: number | undefined; proc?: string | null | undefined };
  /** The states a resume may name: the thread plan's, `Aborted` included. */
  ResumeStates: string[];
}

/** `SealFleet.DashboardWorker`. */
export interface WorkerView {
  Worker: WorkerRow;
  Threads: ThreadView[];
}
