import { fromRunsJson } from '../../chain/bitfield.js';
import type { LotusClient } from '../../chain/client.js';
import type { DeadlineInfo } from '../../chain/types.js';

/** One partition of a deadline as the chain has it, bitfields decoded. */
export interface PartitionView {
  index: number;
  all: number[];
  live: Set<number>;
  faulty: Set<number>;
  recovering: Set<number>;
}

export async function readPartitions(lotus: LotusClient, miner: string, deadline: number): Promise<PartitionView[]> {
  const parts = await lotus.stateMinerPartitions(miner, deadline);
  return parts.map((p, index) => ({
    index,
    all: fromRunsJson(p.AllSectors),
    live: new Set(fromRunsJson(p.LiveSectors)),
    faulty: new Set(fromRunsJson(p.FaultySectors)),
    recovering: new Set(fromRunsJson(p.RecoveringSectors)),
  }));
}

/** Deadline `index` as seen from `info` (the miner's current deadline): this period's, or the next one's once it has closed. */
export function deadlineOpen(info: DeadlineInfo, index: number): { open: number; close: number; faultCutoff: number } {
  let open = info.PeriodStart + index * info.WPoStChallengeWindow;
  if (info.CurrentEpoch >= open + info.WPoStChallengeWindow) open += info.WPoStProvingPeriod;
  return { open, close: open + info.WPoStChallengeWindow, faultCutoff: open - info.FaultDeclarationCutoff };
}
