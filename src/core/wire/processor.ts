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
] as const;
export type Stage = (typeof STAGES)[number];
export const isStage = (text: string): text is Stage => (STAGES as readonly string[]).includes(text);

/**
 * Stages the proofs sidecar serves to the chain side only (the devnet's proof verifier): no worker runs
 * them, so they are not worker stages and a worker never starts their children.
 */
export type ChainStage = 'verify_window_post' | 'window_post';
export type ProofStage = Stage | ChainStage;

/** `<stage> processor ready`: the first line a processor child prints. */
export const readyLine = (stage: ProofStage): string => `${stage} processor ready`;

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

/** A Window PoSt to verify: the replicas challenged, as the actor passes them to the proofs library. */
export interface VerifyWindowPoStTask {
  /** go-state-types name, e.g. "StackedDrgWindow2KiBV1_1". */
  registered_proof: string;
  /** Beacon randomness at the challenge epoch as drawn; the verifier clears its top two bits as the FFI does. */
  randomness: Bytes32;
  prover_id: Bytes32;
  /** Sorted by sector number. */
  replicas: { sector_id: number; comm_r: Bytes32 }[];
  proof: number[];
}

/** Generates a Window PoSt over the challenged replicas (the manager's poster with real proofs). */
export interface WindowPoStTask {
  /** Beacon randomness at the deadline's challenge epoch, as drawn. */
  randomness: Bytes32;
  /** The miner's actor id. */
  prover: number;
  /** go-state-types name, e.g. "StackedDrgWindow2KiBV1_1". */
  proof_type: string;
  /** Sorted by sector number. */
  sectors: { number: number; sealed_cid: string; cache_dir: string; sealed_path: string }[];
}
export interface WindowPoStOutput {
  proof: number[];
  /** Sectors whose replica could not be read while proving. */
  faulty: number[];
}

export interface PieceCommitmentTask {
  piece_file: string;
}
export interface PieceCommitmentOutput {
  commitment: Bytes32;
  padded_size: number;
  payload_size: number;
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
  verify_window_post: { task: VerifyWindowPoStTask; output: boolean };
  window_post: { task: WindowPoStTask; output: WindowPoStOutput };
}
export type TaskOf<S extends ProofStage> = StageIO[S]['task'];
export type OutputOf<S extends ProofStage> = StageIO[S]['output'];

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
