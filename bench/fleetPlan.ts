/**
 * The simulated fleet's model of a real sealing thread: damocles' default intervals and the stage times of a
 * 32 GiB CC sector on a typical sealing box, in real seconds. The load generator divides every one by the
 * scale, so at scale S each simulated thread loads the manager as S real threads would (the chain's block
 * time is divided too, so chain waits keep their length in epochs).
 */
export const REAL = {
  /** `[worker] ping_interval`, `[sealing] rpc_polling_interval`, `recover_interval`, `seal_interval` defaults. */
  pingInterval: 30,
  rpcPollingInterval: 180,
  recoverInterval: 60,
  /** Mainnet's block time and PreCommit challenge delay (the wait for the seed, in epochs). */
  blockTime: 30,
  preCommitChallengeDelay: 150,
  /** Stage times of a 32 GiB CC sector (PC1 on one core complex, C2 on a GPU, persisting over 10 GbE). */
  stages: { AddPiece: 60, BuildTreeD: 180, PC1: 12_600, PC2: 1_200, Persist: 300, C1: 60, C2: 900 },
} as const;

/** A sector's whole life in real seconds: its stages plus the chain's wait for the seed (landing takes a few epochs more). */
export const REAL_CYCLE_S = Object.values(REAL.stages).reduce((a, b) => a + b, 0) + REAL.preCommitChallengeDelay * REAL.blockTime;

/** Threads per worker, real and simulated (the N/32 workers). */
export const THREADS_PER_WORKER = 32;

/**
 * How N real sealing threads are played: k = max(1, round(N / S)) simulated threads at the effective scale
 * N / k, so k threads each calling as often as N / k real ones stand for exactly N (N = 1000 at S = 600: 2
 * threads at scale 500).
 */
export function simulation(realThreads: number, scale: number): { threads: number; scale: number } {
  const threads = Math.max(1, Math.round(realThreads / scale));
  return { threads, scale: realThreads / threads };
}

/**
 * The real workers a simulated worker stands for: its `threads` threads at `scale` stand for threads × scale
 * real threads, that is threads × scale / 32 real workers, each pinging every ping_interval. So the simulated
 * worker pings every ping_interval × 32 / (threads × scale) (a full one of 32 threads: ping_interval / scale),
 * under the names of those workers in turn: `first` and `count` (at least one) of the real workers'
 * numbering, `everyMs` between its pings.
 */
export function standsFor(simulatedWorker: number, threads: number, scale: number): { first: number; count: number; everyMs: number } {
  const first = Math.floor(simulatedWorker * scale);
  const end = Math.floor(simulatedWorker * scale + (threads * scale) / THREADS_PER_WORKER);
  return { first, count: Math.max(1, end - first), everyMs: (REAL.pingInterval * 1000 * THREADS_PER_WORKER) / (threads * scale) };
}

/** The sealer API methods a simulated thread calls, in plan order, then the worker's ping. */
export const METHODS = [
  'AllocateSector',
  'AcquireDeals',
  'AssignTicket',
  'SubmitPreCommit',
  'PollPreCommitState',
  'StoreReserveSpace',
  'SubmitPersistedEx',
  'WaitSeed',
  'SubmitProof',
  'PollProofState',
  'ReportState',
  'ReportFinalized',
  'WorkerPing',
] as const;
export type Method = (typeof METHODS)[number];

/** What the orchestrator asks of one generator process. */
export interface LoadJob {
  /** Sealer API base URLs of the managers; a worker's first choice is `urls[worker % urls.length]`. */
  urls: string[];
  token: string;
  /** Simulated threads of this process. */
  threads: number;
  /** Index of this process's first simulated worker in the fleet (names stay unique across processes). */
  firstWorker: number;
  /** The effective scale (see `simulation`): each simulated thread calls as often as this many real ones. */
  scale: number;
  /** Threads start spread over this time, and measuring starts after it. */
  warmupMs: number;
  durationMs: number;
  /** The persist store's path, where a persisted sector's files go. */
  store: string;
}

/** What a generator process reports about the measured window. */
export interface LoadResult {
  latencies: Record<Method, number[]>;
  errors: Record<string, number>;
  firstError: string | null;
  /** Sectors allocated and finished in the whole run (warm-up included), and abandoned after repeated errors. */
  allocated: number;
  finished: number;
  abandoned: number;
  /** Calls answered during the window (whenever they started), and calls of the window not answered within the grace after it. */
  served: number;
  unanswered: number;
  /** The generator's own event-loop utilisation and CPU (cores' worth) over the window. */
  elu: number;
  cpuCores: number;
}
