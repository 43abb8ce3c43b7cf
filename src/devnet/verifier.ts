import { SealingError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import {
  verifyMockSealProof,
  verifyMockUpdateProof,
  verifyMockWindowPoStProof,
  type SealPublicInputs,
  type UpdatePublicInputs,
  type WindowPoStPublicInputs,
} from '../core/mockProof.js';
import { sealProofInfo, UPDATE_PROOFS, windowPoStProofName } from '../core/proofTypes.js';
import { proverId } from '../core/wire/processor.js';
import type { SidecarClient } from '../core/processor/sidecar.js';

/**
 * How the devnet checks proofs. The `mock` verifier accepts exactly the proofs the mock processors make
 * for these public inputs; the `sidecar` verifier asks the proofs library, through sealfleet-proofs.
 */
export interface ProofVerifier {
  readonly name: string;
  verifySeal(proof: Uint8Array, inputs: SealPublicInputs): Promise<boolean>;
  verifyUpdate(proof: Uint8Array, inputs: UpdatePublicInputs): Promise<boolean>;
  verifyWindowPoSt(proof: Uint8Array, inputs: WindowPoStPublicInputs): Promise<boolean>;
  close(): Promise<void>;
}

export const mockVerifier: ProofVerifier = {
  name: 'mock',
  verifySeal: async (proof, inputs) => verifyMockSealProof(proof, inputs),
  verifyUpdate: async (proof, inputs) => verifyMockUpdateProof(proof, inputs),
  verifyWindowPoSt: async (proof, inputs) => verifyMockWindowPoStProof(proof, inputs),
  close: async () => undefined,
};

const bytes = (b: Uint8Array): number[] => Array.from(b);

/**
 * Real verification. A proof the library refuses to even read (bytes that are not curve points) is invalid,
 * as the actor's verify syscall treats it; a sidecar that died or timed out is not an answer, so the error
 * goes up and the tipset is produced again on the next tick.
 */
export function sidecarVerifier(client: SidecarClient, log: Logger): ProofVerifier {
  const verdict = async (what: string, run: Promise<boolean>): Promise<boolean> => {
    try {
      return await run;
    } catch (err) {
      if (err instanceof SealingError) throw err;
      log.info({ err: (err as Error).message }, `${what} proof refused by the proofs library`);
      return false;
    }
  };
  return {
    name: `sidecar (${client.sidecar.bin})`,
    verifySeal: (proof, inputs) =>
      verdict(
        'seal',
        client.run('verify_seal', {
          registered_proof: sealProofInfo(inputs.sealProof).name,
          comm_r: bytes(inputs.commR),
          comm_d: bytes(inputs.commD),
          prover_id: proverId(inputs.miner),
          sector_id: inputs.number,
          ticket: bytes(inputs.ticket),
          seed: bytes(inputs.seed),
          proof: bytes(proof),
        }),
      ),
    verifyUpdate: (proof, inputs) => {
      const registered = UPDATE_PROOFS.find((p) => p.id === inputs.updateProof);
      if (!registered) return Promise.resolve(false);
      return verdict(
        'update',
        client.run('verify_snap', {
          registered_proof: registered.name,
          comm_r_old: bytes(inputs.oldCommR),
          comm_r_new: bytes(inputs.newCommR),
          comm_d_new: bytes(inputs.newCommD),
          proof: bytes(proof),
          sector_id: inputs.number,
          miner_id: inputs.miner,
        }),
      );
    },
    // The request shape of the `verify_window_post` stage is documented in the README's devnet section.
    verifyWindowPoSt: (proof, inputs) =>
      verdict(
        'window post',
        client.run('verify_window_post', {
          miner_id: inputs.miner,
          proof_type: windowPoStProofName(inputs.postProof),
          replicas: inputs.sectors.map((s) => ({ sector_id: s.number, comm_r: bytes(s.commR) })),
          seed: bytes(inputs.randomness),
          proofs: [Buffer.from(proof).toString('base64')],
        }),
      ),
    close: () => client.close(),
  };
}
