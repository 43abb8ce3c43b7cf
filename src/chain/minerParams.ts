/**
 * Params of the miner actor methods a sealer sends, in the builtin-actors wire layout.
 *
 * Every struct is `Serialize_tuple` in builtin-actors (`actors/miner/src/types.rs`, v18.0.0), so it travels as a
 * DAG-CBOR array in field order. The field order of each `struct(...)` literal below IS the wire order.
 *
 * Decoders reject exactly what the actor's serde decoding would reject (the chain answers those with
 * USR_SERIALIZATION = 21): wrong shapes, wrong kinds, negative values in `u64` fields, malformed addresses. They do
 * not apply the actor's semantic checks (CID prefixes, proof types, epochs), which fail later with other exit codes
 * (`isCommitmentCid` in core/commitment.ts is the prefix check).
 */
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { decodeRlePlus, encodeRlePlus, normalize } from './bitfield.js';
import type { SectorPreCommitInfo as LotusSectorPreCommitInfo } from './types.js';

export const MinerMethod = {
  SubmitWindowedPoSt: 5,
  TerminateSectors: 9,
  DeclareFaults: 10,
  DeclareFaultsRecovered: 11,
  PreCommitSectorBatch2: 28,
  ExtendSectorExpiration2: 32,
  ProveCommitSectors3: 34,
  ProveReplicaUpdates3: 35,
} as const;

export interface SectorPreCommitInfo {
  /** RegisteredSealProof, e.g. 5 = 2KiB V1_1, 8 = 32GiB V1_1. */
  sealProof: number;
  sectorNumber: number;
  /** CommR. */
  sealedCid: CID;
  sealRandEpoch: number;
  dealIds: number[];
  expiration: number;
  /** CommD; null means a CC sector (the actor substitutes the zero CommD for the sector size). */
  unsealedCid: CID | null;
}

export interface PreCommitSectorBatchParams2 {
  sectors: SectorPreCommitInfo[];
}

export interface VerifiedAllocationKey {
  /** Client actor id. */
  client: number;
  id: number;
}

export interface DataActivationNotification {
  /** Address bytes (protocol byte + payload) of the actor to notify. */
  address: Uint8Array;
  payload: Uint8Array;
}

export interface PieceActivationManifest {
  cid: CID;
  /** Padded piece size in bytes. */
  size: number;
  verifiedAllocationKey: VerifiedAllocationKey | null;
  notify: DataActivationNotification[];
}

export interface SectorActivationManifest {
  sectorNumber: number;
  /** Empty for a CC sector. */
  pieces: PieceActivationManifest[];
}

export interface ProveCommitSectors3Params {
  sectorActivations: SectorActivationManifest[];
  /** One proof per activation, or empty when `aggregateProof` is used. */
  sectorProofs: Uint8Array[];
  aggregateProof: Uint8Array;
  /** RegisteredAggregateProof (1 = SnarkPackV2); null unless `aggregateProof` is non-empty. */
  aggregateProofType: number | null;
  requireActivationSuccess: boolean;
  requireNotificationSuccess: boolean;
}

export interface SectorUpdateManifest {
  sector: number;
  deadline: number;
  partition: number;
  /** New CommR. */
  newSealedCid: CID;
  pieces: PieceActivationManifest[];
}

export interface ProveReplicaUpdates3Params {
  sectorUpdates: SectorUpdateManifest[];
  sectorProofs: Uint8Array[];
  aggregateProof: Uint8Array;
  /** RegisteredUpdateProof, 0..4 = 2KiB..64GiB; must match the sector's seal proof. */
  updateProofsType: number;
  aggregateProofType: number | null;
  requireActivationSuccess: boolean;
  requireNotificationSuccess: boolean;
}

/** A partition proven by a Window PoSt, with the sectors skipped (newly faulty) in it. */
export interface PoStPartition {
  index: number;
  /** Sector numbers (a bitfield on the wire). */
  skipped: number[];
}

export interface PoStProof {
  /** RegisteredPoStProof, e.g. 10 = StackedDrgWindow2KiBV1_1. */
  postProof: number;
  proofBytes: Uint8Array;
}

export interface SubmitWindowedPoStParams {
  deadline: number;
  partitions: PoStPartition[];
  /** Exactly one proof, covering every partition. */
  proofs: PoStProof[];
  chainCommitEpoch: number;
  /** Ticket randomness (`PoStChainCommit`, no entropy) at `chainCommitEpoch`. */
  chainCommitRand: Uint8Array;
}

/** The shape shared by termination, fault and recovery declarations: sectors of one partition. */
export interface PartitionSectors {
  deadline: number;
  partition: number;
  sectors: number[];
}

export interface TerminateSectorsParams {
  terminations: PartitionSectors[];
}

export interface TerminateSectorsReturn {
  /** False while early-termination work is still queued in the actor. */
  done: boolean;
}

export interface DeclareFaultsParams {
  faults: PartitionSectors[];
}

export interface DeclareFaultsRecoveredParams {
  recoveries: PartitionSectors[];
}

export interface SectorClaim {
  sectorNumber: number;
  maintainClaims: number[];
  dropClaims: number[];
}

export interface ExpirationExtension2 {
  deadline: number;
  partition: number;
  /** Sectors without FIL+ claims. */
  sectors: number[];
  sectorsWithClaims: SectorClaim[];
  newExpiration: number;
}

export interface ExtendSectorExpiration2Params {
  extensions: ExpirationExtension2[];
}

/** Return value of methods 34/35 (`fil_actors_runtime::BatchReturn`; the method returns are transparent wrappers). */
export interface BatchReturn {
  successCount: number;
  /** Index into the request and exit code of each item that failed, in index order. */
  failCodes: { idx: number; code: number }[];
}

// ---- validating readers ------------------------------------------------------------------------------------------

/** Converts between a typed value and the plain value dag-cbor encodes, checking both directions the same way. */
interface Codec<T> {
  read(value: unknown, at: string): T;
  write(value: T, at: string): unknown;
}

function fail(at: string, problem: string): never {
  throw new Error(`${at}: ${problem}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (CID.asCID(value)) return `CID ${String(value)}`;
  if (typeof value === 'string') {
    return `string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  }
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${String(value)}`;
}

function scalar<T>(check: (value: unknown, at: string) => T): Codec<T> {
  return { read: check, write: check };
}

function integer(value: unknown, at: string): number {
  // dag-cbor yields a bigint for integers beyond 2^53; they cannot round-trip through a JS number.
  if (typeof value === 'bigint') fail(at, `integer ${value} is outside the JS safe integer range`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    fail(at, `expected an integer, got ${describe(value)}`);
  }
  return value;
}

/** Rust `i64` (epochs, and the proof-type enums, which serde reads from any i64). */
const i64 = scalar(integer);

/** Rust `u64`. */
const u64 = scalar((value, at) => {
  const n = integer(value, at);
  if (n < 0) fail(at, `expected a non-negative integer, got ${n}`);
  return n;
});

const u32 = scalar((value, at) => {
  const n = u64.read(value, at);
  if (n > 0xffff_ffff) fail(at, `expected an integer below 2^32, got ${n}`);
  return n;
});

const bool = scalar((value, at) => {
  if (typeof value !== 'boolean') fail(at, `expected a boolean, got ${describe(value)}`);
  return value;
});

/** `RawBytes` / `strict_bytes`: a CBOR byte string, never an array of numbers. */
const bytes = scalar((value, at) => {
  if (!(value instanceof Uint8Array)) fail(at, `expected a byte string, got ${describe(value)}`);
  return value;
});

const cid = scalar((value, at) => CID.asCID(value) ?? fail(at, `expected a CID (CBOR tag 42), got ${describe(value)}`));

/** `fvm_shared::address::Address`, whose deserializer rejects malformed address bytes. */
const address = scalar((value, at) => {
  const b = bytes.read(value, at);
  const problem = addressProblem(b);
  if (problem) fail(at, `invalid address bytes: ${problem}`);
  return b;
});

/** `fvm_ipld_bitfield::BitField`: RLE+ bytes on the wire, sorted distinct numbers here. */
const bitfield: Codec<number[]> = {
  read: (value, at) => {
    const b = bytes.read(value, at);
    try {
      return decodeRlePlus(b, at);
    } catch (err) {
      return fail(at, (err as Error).message);
    }
  },
  write: (value, at) => {
    if (!Array.isArray(value)) fail(at, `expected a list of sector numbers, got ${describe(value)}`);
    const sorted = normalize(value);
    if (sorted.length !== value.length || sorted.some((n, i) => n !== value[i])) fail(at, 'bitfield members must be sorted and distinct');
    return encodeRlePlus(sorted);
  },
};

function nullable<T>(inner: Codec<T>): Codec<T | null> {
  return {
    read: (value, at) => (value === null ? null : inner.read(value, at)),
    write: (value, at) => (value === null ? null : inner.write(value, at)),
  };
}

function list<T>(item: Codec<T>): Codec<T[]> {
  const check = (value: unknown, at: string): unknown[] => {
    if (!Array.isArray(value)) fail(at, `expected a list, got ${describe(value)}`);
    return value;
  };
  return {
    read: (value, at) => check(value, at).map((v, i) => item.read(v, `${at}[${i}]`)),
    write: (value, at) => check(value, at).map((v, i) => item.write(v as T, `${at}[${i}]`)),
  };
}

/** A `Serialize_tuple` struct: the key order of `fields` is the order of the CBOR array. */
function struct<T extends object>(name: string, fields: { [K in keyof T]-?: Codec<T[K]> }): Codec<T> {
  const keys = Object.keys(fields) as (keyof T & string)[];
  return {
    read(value, at) {
      if (!Array.isArray(value) || value.length !== keys.length) {
        fail(at, `expected ${name} as an array of ${keys.length} fields, got ${describe(value)}`);
      }
      const out: Partial<T> = {};
      keys.forEach((k, i) => (out[k] = fields[k].read(value[i], `${at}.${k}`)));
      return out as T;
    },
    write(value, at) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        fail(at, `expected a ${name} object, got ${describe(value)}`);
      }
      return keys.map((k) => fields[k].write(value[k], `${at}.${k}`));
    },
  };
}

/** Why `b` is not a valid Filecoin address (fvm_shared `Address::from_bytes`), or undefined if it is. */
function addressProblem(b: Uint8Array): string | undefined {
  if (b.length < 2) return `${b.length} byte(s) is too short`;
  const payload = b.subarray(1);
  const fixed = (len: number) =>
    payload.length === len ? undefined : `payload must be ${len} bytes, got ${payload.length}`;
  switch (b[0]) {
    case 0:
      return leb128Length(payload) === payload.length ? undefined : 'ID payload is not one canonical LEB128 u64';
    case 1:
    case 2:
      return fixed(20);
    case 3:
      return fixed(48);
    case 4: {
      const n = leb128Length(payload);
      if (n === undefined) return 'delegated namespace is not a canonical LEB128 u64';
      return payload.length - n <= 54 ? undefined : `delegated sub-address is ${payload.length - n} bytes, max 54`;
    }
    default:
      return `unknown protocol ${b[0]}`;
  }
}

/** Length of the minimal unsigned LEB128 u64 that `b` starts with (as `unsigned_varint` requires), if any. */
function leb128Length(b: Uint8Array): number | undefined {
  for (let i = 0; i < Math.min(b.length, 10); i++) {
    const byte = b[i]!;
    if (byte & 0x80) continue;
    if ((i > 0 && byte === 0) || (i === 9 && byte > 1)) return undefined;
    return i + 1;
  }
  return undefined;
}

// ---- layouts (actors/miner/src/types.rs; BatchReturn: runtime/src/util/batch_return.rs) -------------------------

const PieceActivationManifestCodec = struct<PieceActivationManifest>('PieceActivationManifest', {
  cid,
  size: u64,
  verifiedAllocationKey: nullable(struct<VerifiedAllocationKey>('VerifiedAllocationKey', { client: u64, id: u64 })),
  notify: list(struct<DataActivationNotification>('DataActivationNotification', { address, payload: bytes })),
});

const PreCommitSectorBatchParams2Codec = struct<PreCommitSectorBatchParams2>('PreCommitSectorBatchParams2', {
  sectors: list(
    struct<SectorPreCommitInfo>('SectorPreCommitInfo', {
      sealProof: i64,
      sectorNumber: u64,
      sealedCid: cid,
      sealRandEpoch: i64,
      dealIds: list(u64),
      expiration: i64,
      // CompactCommD is a serde-transparent Option<Cid>.
      unsealedCid: nullable(cid),
    }),
  ),
});

const ProveCommitSectors3ParamsCodec = struct<ProveCommitSectors3Params>('ProveCommitSectors3Params', {
  sectorActivations: list(
    struct<SectorActivationManifest>('SectorActivationManifest', {
      sectorNumber: u64,
      pieces: list(PieceActivationManifestCodec),
    }),
  ),
  sectorProofs: list(bytes),
  aggregateProof: bytes,
  aggregateProofType: nullable(i64),
  requireActivationSuccess: bool,
  requireNotificationSuccess: bool,
});

const ProveReplicaUpdates3ParamsCodec = struct<ProveReplicaUpdates3Params>('ProveReplicaUpdates3Params', {
  sectorUpdates: list(
    struct<SectorUpdateManifest>('SectorUpdateManifest', {
      sector: u64,
      deadline: u64,
      partition: u64,
      newSealedCid: cid,
      pieces: list(PieceActivationManifestCodec),
    }),
  ),
  sectorProofs: list(bytes),
  aggregateProof: bytes,
  updateProofsType: i64,
  aggregateProofType: nullable(i64),
  requireActivationSuccess: bool,
  requireNotificationSuccess: bool,
});

const PoStProofCodec = struct<PoStProof>('PoStProof', { postProof: i64, proofBytes: bytes });

const SubmitWindowedPoStParamsCodec = struct<SubmitWindowedPoStParams>('SubmitWindowedPoStParams', {
  deadline: u64,
  partitions: list(struct<PoStPartition>('PoStPartition', { index: u64, skipped: bitfield })),
  proofs: list(PoStProofCodec),
  chainCommitEpoch: i64,
  chainCommitRand: bytes,
});

const partitionSectors = (name: string): Codec<PartitionSectors> =>
  struct<PartitionSectors>(name, { deadline: u64, partition: u64, sectors: bitfield });

const TerminateSectorsParamsCodec = struct<TerminateSectorsParams>('TerminateSectorsParams', {
  terminations: list(partitionSectors('TerminationDeclaration')),
});

const TerminateSectorsReturnCodec = struct<TerminateSectorsReturn>('TerminateSectorsReturn', { done: bool });

const DeclareFaultsParamsCodec = struct<DeclareFaultsParams>('DeclareFaultsParams', {
  faults: list(partitionSectors('FaultDeclaration')),
});

const DeclareFaultsRecoveredParamsCodec = struct<DeclareFaultsRecoveredParams>('DeclareFaultsRecoveredParams', {
  recoveries: list(partitionSectors('RecoveryDeclaration')),
});

const ExtendSectorExpiration2ParamsCodec = struct<ExtendSectorExpiration2Params>('ExtendSectorExpiration2Params', {
  extensions: list(
    struct<ExpirationExtension2>('ExpirationExtension2', {
      deadline: u64,
      partition: u64,
      sectors: bitfield,
      sectorsWithClaims: list(
        struct<SectorClaim>('SectorClaim', { sectorNumber: u64, maintainClaims: list(u64), dropClaims: list(u64) }),
      ),
      newExpiration: i64,
    }),
  ),
});

const BatchReturnCodec = struct<BatchReturn>('BatchReturn', {
  successCount: u32,
  failCodes: list(struct<{ idx: number; code: number }>('FailCode', { idx: u32, code: u32 })),
});

// ---- entry points ------------------------------------------------------------------------------------------------

function encodeWith<T>(codec: Codec<T>, name: string, value: T): Uint8Array {
  return dagCbor.encode(codec.write(value, name));
}

function decodeWith<T>(codec: Codec<T>, name: string, data: Uint8Array): T {
  if (!(data instanceof Uint8Array)) fail(name, `expected CBOR bytes, got ${describe(data)}`);
  let raw: unknown;
  try {
    raw = dagCbor.decode(data);
  } catch (err) {
    fail(name, `not valid DAG-CBOR: ${(err as Error).message}`);
  }
  const value = codec.read(raw, name);
  // dag-cbor hands back an integral float (e.g. 1.0) as a plain number and `undefined` as null, so the checks above
  // cannot see them; the actor's serde decoder rejects both. Re-encoding exposes any such non-canonical input.
  if (!equalBytes(encodeWith(codec, name, value), data)) {
    fail(name, 'not canonical DAG-CBOR (a float or undefined where an integer or null belongs?)');
  }
  return value;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function encodePreCommitSectorBatch2(params: PreCommitSectorBatchParams2): Uint8Array {
  return encodeWith(PreCommitSectorBatchParams2Codec, 'PreCommitSectorBatchParams2', params);
}

export function decodePreCommitSectorBatch2(data: Uint8Array): PreCommitSectorBatchParams2 {
  return decodeWith(PreCommitSectorBatchParams2Codec, 'PreCommitSectorBatchParams2', data);
}

export function encodeProveCommitSectors3(params: ProveCommitSectors3Params): Uint8Array {
  return encodeWith(ProveCommitSectors3ParamsCodec, 'ProveCommitSectors3Params', params);
}

export function decodeProveCommitSectors3(data: Uint8Array): ProveCommitSectors3Params {
  return decodeWith(ProveCommitSectors3ParamsCodec, 'ProveCommitSectors3Params', data);
}

export function encodeProveReplicaUpdates3(params: ProveReplicaUpdates3Params): Uint8Array {
  return encodeWith(ProveReplicaUpdates3ParamsCodec, 'ProveReplicaUpdates3Params', params);
}

export function decodeProveReplicaUpdates3(data: Uint8Array): ProveReplicaUpdates3Params {
  return decodeWith(ProveReplicaUpdates3ParamsCodec, 'ProveReplicaUpdates3Params', data);
}

export function encodeBatchReturn(ret: BatchReturn): Uint8Array {
  return encodeWith(BatchReturnCodec, 'BatchReturn', ret);
}

export function decodeBatchReturn(data: Uint8Array): BatchReturn {
  return decodeWith(BatchReturnCodec, 'BatchReturn', data);
}

export function encodeSubmitWindowedPoSt(params: SubmitWindowedPoStParams): Uint8Array {
  return encodeWith(SubmitWindowedPoStParamsCodec, 'SubmitWindowedPoStParams', params);
}

export function decodeSubmitWindowedPoSt(data: Uint8Array): SubmitWindowedPoStParams {
  return decodeWith(SubmitWindowedPoStParamsCodec, 'SubmitWindowedPoStParams', data);
}

export function encodeTerminateSectors(params: TerminateSectorsParams): Uint8Array {
  return encodeWith(TerminateSectorsParamsCodec, 'TerminateSectorsParams', params);
}

export function decodeTerminateSectors(data: Uint8Array): TerminateSectorsParams {
  return decodeWith(TerminateSectorsParamsCodec, 'TerminateSectorsParams', data);
}

export function encodeTerminateSectorsReturn(ret: TerminateSectorsReturn): Uint8Array {
  return encodeWith(TerminateSectorsReturnCodec, 'TerminateSectorsReturn', ret);
}

export function decodeTerminateSectorsReturn(data: Uint8Array): TerminateSectorsReturn {
  return decodeWith(TerminateSectorsReturnCodec, 'TerminateSectorsReturn', data);
}

export function encodeDeclareFaults(params: DeclareFaultsParams): Uint8Array {
  return encodeWith(DeclareFaultsParamsCodec, 'DeclareFaultsParams', params);
}

export function decodeDeclareFaults(data: Uint8Array): DeclareFaultsParams {
  return decodeWith(DeclareFaultsParamsCodec, 'DeclareFaultsParams', data);
}

export function encodeDeclareFaultsRecovered(params: DeclareFaultsRecoveredParams): Uint8Array {
  return encodeWith(DeclareFaultsRecoveredParamsCodec, 'DeclareFaultsRecoveredParams', params);
}

export function decodeDeclareFaultsRecovered(data: Uint8Array): DeclareFaultsRecoveredParams {
  return decodeWith(DeclareFaultsRecoveredParamsCodec, 'DeclareFaultsRecoveredParams', data);
}

export function encodeExtendSectorExpiration2(params: ExtendSectorExpiration2Params): Uint8Array {
  return encodeWith(ExtendSectorExpiration2ParamsCodec, 'ExtendSectorExpiration2Params', params);
}

export function decodeExtendSectorExpiration2(data: Uint8Array): ExtendSectorExpiration2Params {
  return decodeWith(ExtendSectorExpiration2ParamsCodec, 'ExtendSectorExpiration2Params', data);
}

/** The Lotus JSON form of a pre-commit (as `StateSectorPreCommitInfo` and deposit estimates use it). */
export function toLotusPreCommitInfo(s: SectorPreCommitInfo): LotusSectorPreCommitInfo {
  return {
    SealProof: s.sealProof,
    SectorNumber: s.sectorNumber,
    SealedCID: { '/': s.sealedCid.toString() },
    SealRandEpoch: s.sealRandEpoch,
    DealIDs: s.dealIds.length > 0 ? s.dealIds : null,
    Expiration: s.expiration,
    UnsealedCid: s.unsealedCid ? { '/': s.unsealedCid.toString() } : null,
  };
}
