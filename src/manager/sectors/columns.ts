import type { Selectable, Updateable } from 'kysely';
import { z } from 'zod';
import { formatSectorId } from '../../core/sectorId.js';
import { Bytes32, Cid, PreCommitOnChainInfo, SectorPieceV2, Seed, Ticket } from '../../core/wire/sealer.js';
import type { SectorsTable } from '../db/schema.js';

/** The snap-up part of a sector record: the CC sector's public info, then the update its worker submitted. */
export const UpgradeRecord = z.object({
  public: z.object({ CommR: Bytes32, SealedCID: Cid, Activation: z.number().int(), Expiration: z.number().int() }),
  accessInstance: z.string(),
  submitted: z.object({ CommR: Bytes32, CommD: Bytes32, Proof: z.string(), AccessInstance: z.string() }).optional(),
  landedAt: z.number().int().optional(),
});
export type UpgradeRecord = z.infer<typeof UpgradeRecord>;

/** The schema of each JSON text column of `sectors`: every write is checked with it, every read decoded by it. */
const JSON_COLUMNS = {
  pieces: z.array(SectorPieceV2),
  ticket: Ticket,
  pre: PreCommitOnChainInfo,
  seed: Seed,
  upgrade: UpgradeRecord,
} as const;
type JsonColumn = keyof typeof JSON_COLUMNS;
const JSON_COLUMN_NAMES = Object.keys(JSON_COLUMNS) as JsonColumn[];

export type SectorRow = Selectable<SectorsTable>;

/** A sector record as the manager works with it: JSON columns decoded and checked. */
export type SectorRecord = Omit<SectorRow, JsonColumn> & { [C in JsonColumn]: z.infer<(typeof JSON_COLUMNS)[C]> | null };

/** What a transition may change besides the lifecycle columns, which only the lifecycle table sets. */
export type SectorChanges = Partial<Omit<SectorRecord, 'miner' | 'number' | 'proof_type' | 'created_at' | 'updated_at' | 'status' | 'plan' | 'stage'>>;

export function decodeSector(row: SectorRow): SectorRecord {
  const out: Record<string, unknown> = { ...row };
  for (const column of JSON_COLUMN_NAMES) {
    const text = row[column];
    if (text === null) continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw corrupt(row, column, (err as Error).message);
    }
    const parsed = JSON_COLUMNS[column].safeParse(value);
    if (!parsed.success) throw corrupt(row, column, z.prettifyError(parsed.error));
    out[column] = parsed.data;
  }
  return out as SectorRecord;
}

/** The column values of `changes`, JSON columns checked against their schema and encoded. */
export function encodeChanges(changes: SectorChanges): Updateable<SectorsTable> {
  const out: Record<string, unknown> = { ...changes };
  for (const column of JSON_COLUMN_NAMES) {
    const value = changes[column];
    if (value === undefined || value === null) continue;
    out[column] = JSON.stringify(JSON_COLUMNS[column].parse(value));
  }
  return out as Updateable<SectorsTable>;
}

function corrupt(row: SectorRow, column: JsonColumn, why: string): Error {
  return new Error(`sector ${formatSectorId({ miner: Number(row.miner), number: Number(row.number) })}: its ${column} column does not hold what the manager wrote (${why}); restore the database from a backup`);
}
