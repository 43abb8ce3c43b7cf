import fc from 'fast-check';

/**
 * Runs a fast-check property with a seed that replays: SEALFLEET_PROPERTY_SEED when set, else a new one.
 * A failure names the seed and the variable to set, so the failing run can be run again as it was.
 */
export async function checkProperty<Ts>(property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>, numRuns: number): Promise<void> {
  const fromEnv = process.env.SEALFLEET_PROPERTY_SEED;
  const seed = fromEnv === undefined || fromEnv === '' ? (Date.now() ^ (Math.random() * 2 ** 31)) | 0 : Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`SEALFLEET_PROPERTY_SEED is "${fromEnv}": expected an integer`);
  try {
    await fc.assert(property, { seed, numRuns });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // fast-check keeps the failing assertion as the cause, out of its own message.
    const cause = err instanceof Error && err.cause instanceof Error ? `\n${err.cause.message}` : '';
    throw new Error(`property failed; replay with SEALFLEET_PROPERTY_SEED=${seed}\n${message}${cause}`, { cause: err });
  }
}
