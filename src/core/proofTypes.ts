import { parseSize } from './units.js';

/**
 * Sector sizes and the registered proof types with the chain's numbers (go-state-types abi and
 * builtin-actors `RegisteredSealProof` / `RegisteredUpdateProof` / `RegisteredPoStProof`).
 */
export const SECTOR_SIZES = [2048, 8 * 1024 ** 2, 512 * 1024 ** 2, 32 * 1024 ** 3, 64 * 1024 ** 3] as const;
export type SectorSize = (typeof SECTOR_SIZES)[number];

const SIZE_NAMES = ['2KiB', '8MiB', '512MiB', '32GiB', '64GiB'] as const;

export function isSectorSize(bytes: number): bytes is SectorSize {
  return (SECTOR_SIZES as readonly number[]).includes(bytes);
}

/** Parses `2KiB` … `64GiB` (or the byte count) and insists it is a size Filecoin seals. */
export function parseSectorSize(text: string): SectorSize {
  const bytes = parseSize(text);
  if (!isSectorSize(bytes)) {
    throw new Error(`invalid sector size "${text}": expected one of ${SIZE_NAMES.join(', ')}`);
  }
  return bytes;
}

/** Seal proof generations, each a block of five numbers in size order (2KiB, 8MiB, 512MiB, 32GiB, 64GiB). */
const SEAL_FAMILIES = [
  { base: 0, suffix: 'V1' },
  { base: 5, suffix: 'V1_1' },
  { base: 10, suffix: 'V1_1_Feat_SyntheticPoRep' },
  { base: 15, suffix: 'V1_2_Feat_NiPoRep' },
] as const;

export interface SealProofInfo {
  id: number;
  name: string;
  sectorSize: SectorSize;
  /** Number of Groth16 partitions in a C2 proof (192 bytes each). */
  partitions: number;
  updateProof: number;
  windowPoStProof: number;
  winningPoStProof: number;
}

const PARTITIONS = [1, 1, 1, 10, 10] as const;

export const SEAL_PROOFS: readonly SealProofInfo[] = SEAL_FAMILIES.flatMap((family) =>
  SECTOR_SIZES.map((size, i) => ({
    id: family.base + i,
    name: `StackedDrg${SIZE_NAMES[i]}${family.suffix}`,
    sectorSize: size,
    partitions: PARTITIONS[i] as number,
    updateProof: i,
    windowPoStProof: 10 + i,
    winningPoStProof: i,
  })),
);

export function sealProofInfo(id: number): SealProofInfo {
  const info = SEAL_PROOFS.find((p) => p.id === id);
  if (!info) throw new Error(`unknown seal proof type ${id}: expected 0–19`);
  return info;
}

export function sealProofByName(name: string): SealProofInfo {
  const info = SEAL_PROOFS.find((p) => p.name === name);
  if (!info) throw new Error(`unknown seal proof "${name}": expected a name like StackedDrg2KiBV1_1`);
  return info;
}

/** The proof the actors accept for new sectors of this size (V1_1; synthetic PoRep when asked for). */
export function sealProofForSize(size: SectorSize, synthetic = false): SealProofInfo {
  const index = SECTOR_SIZES.indexOf(size);
  return sealProofInfo((synthetic ? 10 : 5) + index);
}

/** Seal proofs the miner actor accepts for new pre-commits (builtin-actors policy: V1_1 and synthetic). */
export function acceptedForPreCommit(id: number): boolean {
  return id >= 5 && id <= 14;
}

export const UPDATE_PROOFS: readonly { id: number; name: string; sectorSize: SectorSize }[] = SECTOR_SIZES.map(
  (size, i) => ({ id: i, name: `StackedDrg${SIZE_NAMES[i]}V1`, sectorSize: size }),
);

export function updateProofForSize(size: SectorSize): number {
  return SECTOR_SIZES.indexOf(size);
}

/**
 * The WindowPoSt proofs the actors take (`StackedDRGWindow<size>V1P1`, ids 10–14), each with its name in the proofs
 * API, which calls V1P1 `V1_2`: the sidecar's `window_post` / `verify_window_post` take that name.
 */
export const WINDOW_POST_PROOFS: readonly { id: number; name: string; sectorSize: SectorSize }[] = SECTOR_SIZES.map(
  (size, i) => ({ id: 10 + i, name: `StackedDrgWindow${SIZE_NAMES[i]}V1_2`, sectorSize: size }),
);

/** The proofs-API name of a chain WindowPoSt proof type (10–14), as the sidecar's PoSt stages take it. */
export function windowPoStProofName(id: number): string {
  const found = WINDOW_POST_PROOFS.find((p) => p.id === id);
  if (!found) throw new Error(`unknown Window PoSt proof type ${id}: expected 10–14`);
  return found.name;
}

/** A WindowPoSt proof by its proofs-API name (`StackedDrgWindow2KiBV1_2`). */
export function windowPoStProofByName(name: string): (typeof WINDOW_POST_PROOFS)[number] {
  const found = WINDOW_POST_PROOFS.find((p) => p.name === name);
  if (!found) throw new Error(`unknown Window PoSt proof type "${name}": expected one of ${WINDOW_POST_PROOFS.map((p) => p.name).join(', ')}`);
  return found;
}
