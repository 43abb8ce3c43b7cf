import { verifyMockSealProof, verifyMockUpdateProof, type SealPublicInputs, type UpdatePublicInputs } from '../core/mockProof.js';

/**
 * How the devnet checks proofs. The `mock` verifier accepts exactly the proofs the mock processors make
 * for these public inputs; the real verifier (through the proofs sidecar) plugs in behind the same interface.
 */
export interface ProofVerifier {
  readonly name: string;
  verifySeal(proof: Uint8Array, inputs: SealPublicInputs): Promise<boolean>;
  verifyUpdate(proof: Uint8Array, inputs: UpdatePublicInputs): Promise<boolean>;
}

export const mockVerifier: ProofVerifier = {
  name: 'mock',
  verifySeal: async (proof, inputs) => verifyMockSealProof(proof, inputs),
  verifyUpdate: async (proof, inputs) => verifyMockUpdateProof(proof, inputs),
};
