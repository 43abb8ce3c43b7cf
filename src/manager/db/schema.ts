import type { Generated } from 'kysely';
import type { SectorPlan, SectorStage, SectorStatus } from '../sectors/lifecycle.js';

/**
 * The manager's tables. Written for Kysely so the SQLite default and a PostgreSQL dialect share one
 * schema: JSON payloads are text, booleans are 0/1 integers, times are unix milliseconds.
 */
export interface SectorsTable {
  miner: number;
  number: number;
  proof_type: number;
  /** What the manager does with it: `sealing` (a worker owns it), `finalized`, `aborted`; set from `stage`. */
  status: SectorStatus;
  plan: SectorPlan;
  /** Where it is in its plan's lifecycle (`sectors/lifecycle.ts`); only the sector store sets it. */
  stage: SectorStage;
  created_at: number;
  updated_at: number;
  worker_instance: string | null;
  worker_location: string | null;
  /** The state the worker last reported. */
  latest_state: string | null;
  /** An operator asked for an abort; the worker hears it at its next ReportState. */
  abort_request: string | null;
  abort_reason: string | null;
  /** JSON SectorPieceV2[] given by AcquireDeals / AllocateSnapUpSector. */
  pieces: string | null;
  /** JSON {Ticket, Epoch}. */
  ticket: string | null;
  /** JSON {CommR, CommD, Ticket} as submitted with SubmitPreCommit. */
  pre: string | null;
  pre_message: string | null;
  /** JSON {Seed, Epoch}. */
  seed: string | null;
  /** Base64 C2 proof. */
  proof: string | null;
  prove_message: string | null;
  persist_instance: string | null;
  /** JSON of the snap-up state (public info of the CC sector, then the submitted update). */
  upgrade: string | null;
  upgrade_message: string | null;
  /** When the sector's current submission (pre-commit, proof or update) started waiting for its batch. */
  queued_at: number | null;
}

export interface SectorEventsTable {
  id: Generated<number>;
  miner: number;
  number: number;
  at: number;
  worker_instance: string | null;
  worker_location: string | null;
  prev: string | null;
  next: string | null;
  event: string | null;
  failure_level: string | null;
  failure_desc: string | null;
}

export interface SectorNumbersTable {
  miner: number;
  last: number;
}

export interface PiecesTable {
  cid: string;
  /** The miner the piece is for, or null for any. */
  miner: number | null;
  padded_size: number;
  payload_size: number;
  status: 'queued' | 'assigned' | 'sealed';
  sector_miner: number | null;
  sector_number: number | null;
  imported_at: number;
}

export interface ReservationsTable {
  store: string;
  miner: number;
  number: number;
  size: number;
  at: number;
}

export interface WorkerPingsTable {
  name: string;
  dest: string;
  version: string;
  summary: string;
  last_ping: number;
  /** Fingerprint of the token whose ping registered this name (never the token), null before 0002. */
  credential: string | null;
  /** Id of the JWT secret that token was signed with: a binding under an older secret is stale. */
  secret_id: string | null;
}

export interface MessagesTable {
  /** Our id, also sent as MsgUuid so a push repeated after a crash is the same message. */
  id: string;
  kind: 'precommit' | 'prove' | 'snap';
  miner: number;
  /** JSON number[]. */
  sectors: string;
  method: number;
  params: string;
  value: string;
  cid: string | null;
  /** `new` until the node has it; then `pushed`; `landed` / `failed` once a receipt is seen. */
  state: 'new' | 'pushed' | 'landed' | 'failed';
  exit_code: number | null;
  height: number | null;
  created_at: number;
}

/** One row: the identity of the cluster the database holds (several managers may share it). */
export interface ClusterTable {
  id: string;
  created_at: number;
}

/** The cluster's JWT secret on PostgreSQL: one row, id 1 (empty on SQLite, where the home's file holds it). */
export interface AuthSecretTable {
  id: number;
  /** 32 bytes, hex. */
  secret: string;
  rotated_at: number;
}

/** The Window PoSt of one deadline of one proving period (proving/poster.ts). */
export interface PostSubmissionsTable {
  miner: number;
  period_start: number;
  deadline: number;
  /** JSON number[]: the partitions the proof covers. */
  partitions: string;
  /** The chain head when the row was claimed (or claimed again after a lost push). */
  claimed_epoch: number;
  /** `claimed` until the node has the message; `pushed`; `landed` / `failed` once its receipt is seen. */
  state: 'claimed' | 'pushed' | 'landed' | 'failed';
  /** Proof messages claimed for the deadline so far (a failed one is sent again while the deadline is open). */
  attempts: Generated<number>;
  cid: string | null;
  exit_code: number | null;
  error: string | null;
  created_at: number;
  updated_at: number;
}

/** A miner message about sectors' life on chain, from its push to its receipt (proving/lifeMessages.ts). */
export interface LifeMessagesTable {
  cid: string;
  miner: number;
  method: number;
  /** What each sector's history records once it lands. */
  event: 'FaultDeclared' | 'RecoveryDeclared' | 'ExpirationExtended' | 'Terminated';
  /** JSON [{number, desc}]: the sectors it is about. */
  sectors: string;
  state: 'pushed' | 'landed' | 'failed';
  exit_code: number | null;
  height: number | null;
  created_at: number;
  updated_at: number;
}

/** A Window PoSt job for workers' wdpost threads (proving/wdpostJobs.ts). */
export interface WdPoStJobsTable {
  /** Hex sha256 of `input`. */
  id: string;
  miner: number;
  /** The proofs-API name of the WindowPoSt proof type. */
  proof_type: string;
  /** JSON WdPoStInput. */
  input: string;
  state: 'ready2run' | 'running' | 'finished';
  /** How many times a worker took the job. */
  try_num: number;
  /** The worker that took it last. */
  worker: string | null;
  created_at: number;
  /** When it last became ready2run (created, retried or reset): no worker taking it in `fallback_after` from then is a fallback. */
  ready_at: number;
  started_at: number | null;
  heartbeat_at: number | null;
  finished_at: number | null;
  /** JSON WdPoStOutput of the worker; null when it failed. */
  output: string | null;
  error: string | null;
  /** When the manager gave up on workers and proved the deadline itself. */
  fallback_at: number | null;
}

export interface Database {
  sectors: SectorsTable;
  sector_events: SectorEventsTable;
  sector_numbers: SectorNumbersTable;
  pieces: PiecesTable;
  reservations: ReservationsTable;
  worker_pings: WorkerPingsTable;
  messages: MessagesTable;
  cluster: ClusterTable;
  auth_secret: AuthSecretTable;
  post_submissions: PostSubmissionsTable;
  life_messages: LifeMessagesTable;
  wdpost_jobs: WdPoStJobsTable;
}
