/**
 * The processor protocol (worker → processor child, stdio JSON lines): stage names and the task /
 * output JSON of each stage, in damocles' shapes (snake_case, 32-byte values as arrays of numbers, proof
 * types as variant names like "StackedDrg2KiBV1_1"). Stages after `c2` are ours; damocles runs them in-process.
 */
export const STAGES = [
  'add_pieces',
  'tree_d',
  'pc1',
  'pc2',
  'c1',
  'c2',
  'snap_encode',
  'snap_partition_proofs',
  'snap_prove',
  'verify_seal',
  'verify_snap',
  'piece_commitment',
  'transfer',
  'window_post',
] as const;
export type Stage = (typeof STAGES)[number];
export const isStage = (text: string): text is Stage => (STAGES as readonly string[]).includes(text);

/**
 * Stages of the sidecar that no worker runs: `verify_window_post` (ours) checks a Window PoSt for the devnet's
 * verifier. `window_post` (damocles' shape) is a worker stage: the `wdpost` plan runs it.
 */
export const POST_STAGES = ['verify_window_post'] as const;
export type PostStage = (typeof POST_STAGES)[number];
/** Any stage a processor child can serve. */
export type ProcessorStage = Stage | PostStage;

/** `<stage> processor ready`: the first line a processor child prints. */
export const readyLine = (stage: ProcessorStage): string => `${stage} processor ready`;

export type Bytes32 = number[];

/** A piece as the proofs library sees it: commitment and *unpadded* size. */
export interface PieceInfo {
  commitment: Bytes32;
  size: number;
}

export type PieceFile = { url: string } | { local: string } | 'pledge';

export interface AddPiecesTask {
  seal_proof_type: string;
  pieces: { piece_file: PieceFile; payload_size: number; piece_size: number }[];
  staged_filepath: string;
}

export interface TreeDTask {
  registered_proof: string;
  staged_file: string;
  cache_dir: string;
}

export interface PC1Task {
  registered_proof: string;
  cache_path: string;
  in_path: string;
  out_path: string;
  prover_id: Bytes32;
  sector_id: number;
  ticket: Bytes32;
  piece_infos: PieceInfo[];
}

export interface PC2Task {
  pc1out: unknown;
  cache_dir: string;
  sealed_file: string;
}
export interface PC2Output {
  registered_proof: string;
  comm_r: Bytes32;
  comm_d: Bytes32;
}

export interface C1Task {
  registered_proof: string;
  cache_path: string;
  replica_path: string;
  prover_id: Bytes32;
  sector_id: number;
  ticket: Bytes32;
  seed: Bytes32;
  comm_r: Bytes32;
  comm_d: Bytes32;
  piece_infos: PieceInfo[];
}

export interface C2Task {
  c1out: unknown;
  prover_id: Bytes32;
  sector_id: number;
  miner_id: number;
}
export interface C2Output {
  proof: number[];
}

export interface SnapEncodeTask {
  registered_proof: string;
  new_replica_path: string;
  new_cache_path: string;
  sector_path: string;
  sector_cache_path: string;
  staged_data_path: string;
  piece_infos: PieceInfo[];
}
export interface SnapEncodeOutput {
  comm_r_new: Bytes32;
  comm_r_last_new: Bytes32;
  comm_d_new: Bytes32;
}

export interface SnapPartitionProofsTask {
  registered_proof: string;
  comm_r_old: Bytes32;
  comm_r_new: Bytes32;
  comm_d_new: Bytes32;
  sector_path: string;
  sector_cache_path: string;
  new_replica_path: string;
  new_cache_path: string;
  /** Not needed by the proofs library; lets a processor label its work. */
  sector_id: number;
  miner_id: number;
}

export interface SnapProveTask {
  registered_proof: string;
  vannilla_proofs: number[][];
  comm_r_old: Bytes32;
  comm_r_new: Bytes32;
  comm_d_new: Bytes32;
}

export interface VerifySealTask {
  registered_proof: string;
  comm_r: Bytes32;
  comm_d: Bytes32;
  prover_id: Bytes32;
  sector_id: number;
  ticket: Bytes32;
  seed: Bytes32;
  proof: number[];
}

export interface VerifySnapTask {
  registered_proof: string;
  comm_r_old: Bytes32;
  comm_r_new: Bytes32;
  comm_d_new: Bytes32;
  proof: number[];
  /** Not needed by the proofs library; the mock proof is bound to the sector. */
  sector_id: number;
  miner_id: number;
}

export interface PieceCommitmentTask {
  piece_file: string;
}
export interface PieceCommitmentOutput {
  commitment: Bytes32;
  padded_size: number;
  payload_size: number;
}

/** A sealed sector to prove: its CommR and where its sealed file and cache (p_aux, tree_r_last) are. */
export interface PoStReplica {
  sector_id: number;
  comm_r: Bytes32;
  cache_dir: string;
  sealed_file: string;
}
export interface WindowPoStTask {
  miner_id: number;
  /** A WindowPoSt proof type's name in the proofs API, e.g. "StackedDrgWindow2KiBV1_2" (chain id 10). */
  proof_type: string;
  replicas: PoStReplica[];
  /** The chain's WindowPoSt challenge randomness, as drawn (the sidecar masks it into a field element). */
  seed: Bytes32;
}
export interface WindowPoStOutput {
  /** Base64: one proof (proof type) covering every replica not in `faults`; none if all are faulty. */
  proofs: string[];
  /** Sector numbers that could not be proven: their files are missing, unreadable or do not match comm_r. */
  faults: number[];
}
export interface VerifyWindowPoStTask {
  miner_id: number;
  proof_type: string;
  /** The sectors the proof covers: a sector listed twice with the same comm_r counts once. */
  replicas: { sector_id: number; comm_r: Bytes32 }[];
  seed: Bytes32;
  /** `proofs` of `window_post`: exactly one. */
  proofs: string[];
}

export interface TransferTask {
  routes: { src: string; dest: string; is_dir: boolean }[];
}

/** Task and output JSON per stage. Opaque stage outputs (pc1, c1, snap partition proofs) stay `unknown`. */
export interface StageIO {
  add_pieces: { task: AddPiecesTask; output: PieceInfo[] };
  tree_d: { task: TreeDTask; output: boolean };
  pc1: { task: PC1Task; output: unknown };
  pc2: { task: PC2Task; output: PC2Output };
  c1: { task: C1Task; output: unknown };
  c2: { task: C2Task; output: C2Output };
  snap_encode: { task: SnapEncodeTask; output: SnapEncodeOutput };
  snap_partition_proofs: { task: SnapPartitionProofsTask; output: number[][] };
  snap_prove: { task: SnapProveTask; output: number[] };
  verify_seal: { task: VerifySealTask; output: boolean };
  verify_snap: { task: VerifySnapTask; output: boolean };
  piece_commitment: { task: PieceCommitmentTask; output: PieceCommitmentOutput };
  transfer: { task: TransferTask; output: boolean };
  window_post: { task: WindowPoStTask; output: WindowPoStOutput };
  verify_window_post: { task: VerifyWindowPoStTask; output: boolean };
}
export type TaskOf<S extends ProcessorStage> = StageIO[S]['task'];
export type OutputOf<S extends ProcessorStage> = StageIO[S]['output'];

/** One line to the child, and one line back. */
export interface ProcessorRequest {
  id: number;
  task: unknown;
}
export interface ProcessorResponse {
  id: number;
  err_msg: string | null;
  output: unknown;
}

/** The prover id of a miner: its ID address payload (uvarint of the actor id), zero-padded to 32 bytes. */
export function proverId(minerId: number): Bytes32 {
  const out = new Array<number>(32).fill(0);
  let n = minerId;
  let i = 0;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out[i++] = byte;
  } while (n > 0);
  return out;
}
