/** A sector is named by its miner actor id and its number: printed `s-t0<miner>-<number>`, e.g. `s-t010000-2`. */
export interface SectorId {
  miner: number;
  number: number;
}

const SECTOR_ID = /^s-[tf]0(\d+)-(\d+)$/;

export function formatSectorId(id: SectorId): string {
  return `s-t0${id.miner}-${id.number}`;
}

export function parseSectorId(text: string): SectorId {
  const match = SECTOR_ID.exec(text.trim());
  const miner = match ? Number(match[1]) : NaN;
  const number = match ? Number(match[2]) : NaN;
  if (!Number.isSafeInteger(miner) || !Number.isSafeInteger(number)) {
    throw new Error(`invalid sector id "${text}": expected s-t0<miner>-<number>, e.g. s-t01000-2`);
  }
  return { miner, number };
}
