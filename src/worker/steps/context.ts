import type { Logger } from '../../core/log.js';
import type { EventName, Plan } from '../../core/plans/index.js';
import type { AllocatedSector, SectorID } from '../../core/wire/sealer.js';
import type { AttachedStores } from '../attachedStores.js';
import type { SealingConfig } from '../config.js';
import type { ManagerClient } from '../managerClient.js';
import type { sectorPaths } from '../paths.js';
import type { Processors } from '../processors/types.js';
import type { SectorTask } from '../task.js';

/** What a step returns: the event of its plan's table, and what it adds to the sector task. */
export interface StepResult {
  event: EventName;
  patch?: Partial<SectorTask>;
}

/** Everything a step may use; side effects go through the manager client and the processors only. */
export interface StepContext {
  task: SectorTask;
  plan: Plan;
  sealing: SealingConfig;
  /** The thread's location; null only on a wdpost thread, whose steps keep no files. */
  location: string | null;
  instance: string;
  manager: ManagerClient;
  /** Runs a stage; the thread times each run and keeps the total with the step's transition. */
  processors: Pick<Processors, 'run' | 'staticTreeD'>;
  /** The persist stores this worker has attached, by the names the manager uses. */
  attached: AttachedStores;
  /** Searched for deal pieces (`<cid>`, `<cid>.car`) before the manager's piece store. */
  pieceDirs: readonly string[];
  log: Logger;
  /** Sleeps, but gives way at once to a pause or shutdown (by throwing `Interrupted`). */
  wait(ms: number, why: string): Promise<void>;
  /** Marks the thread as running a processor stage (shown in `worker list`). */
  running(what: string): void;
}

export type Step = (ctx: StepContext) => Promise<StepResult>;

export function sectorOf(task: SectorTask): AllocatedSector {
  if (!task.sector) throw new Error('the task has no sector');
  return { ID: { Miner: task.sector.miner, Number: task.sector.number }, ProofType: task.sector.proofType };
}

export const idOf = (task: SectorTask): SectorID => sectorOf(task).ID;

export type SectorFiles = ReturnType<typeof sectorPaths>;
