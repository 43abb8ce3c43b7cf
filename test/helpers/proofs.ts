import assert from 'node:assert/strict';
import { it } from 'node:test';
import { checkParams, findSidecar, type Sidecar } from '../../src/core/processor/sidecar.js';

/**
 * The proofs sidecar and its 2KiB parameters, for the real-proof suites: `unavailable` says why they cannot
 * run (the suite skips), and with SEALFLEET_REQUIRE_PROOFS=1 (CI) that becomes a failing test instead.
 */
export async function realProofs(): Promise<{ sidecar: Sidecar | undefined; unavailable: string | undefined }> {
  const sidecar = findSidecar();
  const params = sidecar ? await checkParams(sidecar, 2048) : undefined;
  const unavailable = !sidecar
    ? 'the sealfleet-proofs sidecar is not built (npm run build:proofs)'
    : params?.ready
      ? undefined
      : `2KiB parameters are missing: ${params?.missing.join(', ')}`;
  if (unavailable && process.env.SEALFLEET_REQUIRE_PROOFS === '1') {
    it('has the proofs sidecar and its parameters (SEALFLEET_REQUIRE_PROOFS=1)', () => assert.fail(unavailable));
  }
  return { sidecar, unavailable };
}

/** A worker's `[processors]`: every stage in the sidecar, one C2 or snap proof at a time (each takes both cores). */
export const SIDECAR_PROCESSORS = `[processors]
default = "sidecar"

[processors.limitation.concurrent]
c2 = 1
snap_prove = 1
`;
