import { z } from 'zod';

/**
 * The `data` of a SECTOR_STATE_NOT_FOUND (11001) error when the manager knows the sector and ended it on
 * purpose (aborted, finalized): only then may a worker drop the sector and its files. The code stays 11001
 * on the wire for damocles workers, which abort on it either way; an 11001 without this data means the
 * manager has no record of the sector at all (a lost or replaced database), and a worker must not throw
 * work away on that.
 */
export const SectorEnded = z.object({
  Known: z.literal(true),
  Status: z.enum(['finalized', 'aborted']),
  Reason: z.string().nullable(),
});
export type SectorEnded = z.infer<typeof SectorEnded>;
