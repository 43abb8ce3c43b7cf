import { cidToCommitment } from '../../core/commitment.js';
import { mockWindowPoStProof } from '../../core/mockProof.js';
import { windowPoStProofName } from '../../core/proofTypes.js';
import type { SidecarClient } from '../../core/processor/sidecar.js';
import type { SectorReplica } from './sectorFiles.js';

/** One sector the proof covers, with its replica's files (checked just before). */
export interface ProvenSector extends SectorReplica {
  number: number;
  sealedCid: string;
}

export interface WindowPoStRequest {
  miner: number;
  postProof: number;
  /** Beacon randomness at the deadline's challenge epoch. */
  randomness: Uint8Array;
  /**
   * The challenged sectors in number order as the actor lists them (`load_for_proof`): every sector of the
   * proven partitions, each faulty, skipped or terminated one replaced by the first good one.
   */
  challenged: ProvenSector[];
  /** Whether the deadline is about to close: a prover waiting for someone else's proof proves it now instead. */
  closing(): Promise<boolean>;
}

export interface WindowPoStResult {
  proof: Uint8Array;
  /** Sectors the prover could not read: the poster skips them and asks again. */
  faulty: number[];
}

/** Computes a deadline's Window PoSt (`[proving] proofs`). */
export type Prover = (req: WindowPoStRequest) => Promise<WindowPoStResult>;

/** The mock proof the devnet's mock verifier checks: a digest of exactly what the actor challenges. */
export const mockProver: Prover = async (req) => ({
  proof: mockWindowPoStProof({
    miner: req.miner,
    postProof: req.postProof,
    randomness: req.randomness,
    sectors: req.challenged.map((s) => ({ number: s.number, commR: cidToCommitment('sealed', s.sealedCid) })),
  }),
  faulty: [],
});

/**
 * The sidecar's `window_post` stage over the replicas in the persist stores, each sector once. Proven through
 * the poster and verified by the devnet in test/proofs/realProving.test.ts.
 */
export function sidecarProver(sidecar: SidecarClient): Prover {
  return async (req) => {
    const unique = [...new Map(req.challenged.map((s) => [s.number, s])).values()];
    const out = await sidecar.run('window_post', {
      miner_id: req.miner,
      proof_type: windowPoStProofName(req.postProof),
      replicas: unique.map((s) => ({ sector_id: s.number, comm_r: Array.from(cidToCommitment('sealed', s.sealedCid)), cache_dir: s.cache, sealed_file: s.sealed })),
      seed: Array.from(req.randomness),
    });
    const [proof] = out.proofs;
    if (out.faults.length === 0 && proof === undefined) throw new Error('the sidecar returned no Window PoSt proof');
    return { proof: proof === undefined ? new Uint8Array() : new Uint8Array(Buffer.from(proof, 'base64')), faulty: out.faults };
  };
}
