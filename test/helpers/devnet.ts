import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { minerEntropy } from '../../src/chain/address.js';
import { fromRunsJson } from '../../src/chain/bitfield.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import {
  decodePreCommitSectorBatch2,
  decodeProveCommitSectors3,
  decodeProveReplicaUpdates3,
  decodeSubmitWindowedPoSt,
  encodePreCommitSectorBatch2,
  encodeProveCommitSectors3,
  encodeSubmitWindowedPoSt,
  MinerMethod,
  type PoStPartition,
} from '../../src/chain/minerParams.js';
import { LotusClient } from '../../src/chain/client.js';
import { DomainSeparationTag } from '../../src/chain/randomness.js';
import type { DeadlineInfo, MsgLookup, TipSet } from '../../src/chain/types.js';
import { commitmentToCid, zeroCommitment } from '../../src/core/commitment.js';
import { mockSealProof, mockWindowPoStProof } from '../../src/core/mockProof.js';
import { RpcClient } from '../../src/core/rpc/client.js';
import { MANAGER_BIN, spawnCli, type Spawned } from './processes.js';

/** Policy short enough to walk a sector through every check in a few dozen tipsets. */
export const TEST_DEVNET_TOML = `
[chain]
block_time = "0s"
pre_commit_challenge_delay = 3
max_pre_commit_randomness_lookback = 20
max_prove_commit_duration = 12
expired_pre_commit_clean_up_delay = 2
min_sector_expiration = 100
max_sector_expiration_extension = 10000

[[accounts]]
id = 100
balance = "1000 FIL"

[[accounts]]
id = 101
balance = "1 FIL"

[[miners]]
id = 1000
sector_size = "2KiB"
owner = "t0100"
worker = "t0100"
`;

/** TEST_DEVNET_TOML with a Window PoSt schedule of four deadlines of ten epochs: a proving period every 40 tipsets. */
export const PROVING_DEVNET_TOML = TEST_DEVNET_TOML.replace(
  '[chain]\n',
  `[chain]
wpost_proving_period = 40
wpost_challenge_window = 10
wpost_period_deadlines = 4
wpost_challenge_lookback = 3
fault_declaration_cutoff = 5
`,
);

export interface TestDevnet {
  url: string;
  home: string;
  lotus: LotusClient;
  daemon: Spawned;
  mine(count?: number): Promise<TipSet>;
}

/** Starts `sealfleet-manager devnet` as a child process on a free port. */
export async function startTestDevnet(home: string, opts: { toml?: string; blockTime?: string } = {}): Promise<TestDevnet> {
  if (opts.toml !== undefined) writeFileSync(join(home, 'devnet.toml'), opts.toml);
  const args = ['devnet', '--home', home, '--listen', '127.0.0.1:0'];
  if (opts.blockTime) args.push('--block-time', opts.blockTime);
  const daemon = spawnCli(MANAGER_BIN, args);
  const line = await daemon.waitFor(/devnet up/);
  const url = (JSON.parse(line) as { url: string }).url;
  const lotus = new LotusClient({ url, timeoutMs: 10_000 });
  const admin = new RpcClient({ url, timeoutMs: 60_000 });
  return { url, home, lotus, daemon, mine: (count = 1) => admin.call<TipSet>('Devnet.Mine', [count]) };
}

/** One miner message the devnet took into its pool, landed or not, with the sector numbers it carries. */
export interface DevnetMinerMessage {
  cid: string;
  kind: 'precommit' | 'prove' | 'update';
  sectors: number[];
  /** Null while the message waits in the pool. */
  exitCode: number | null;
}

/** Every message the devnet in `home` took into its pool, in push order, read from its own database. */
function devnetMessages(home: string): { cid: string; method: number; params: Buffer; exitCode: number | null }[] {
  const db = new Database(join(home, 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select cid, body, exit_code from messages order by pushed_at').all() as { cid: string; body: string; exit_code: number | null }[];
    return rows.map(({ cid, body, exit_code }) => {
      const msg = JSON.parse(body) as { Method: number; Params: string | null };
      return { cid, method: msg.Method, params: Buffer.from(msg.Params ?? '', 'base64'), exitCode: exit_code };
    });
  } finally {
    db.close();
  }
}

/** Every pre-commit, prove and replica-update message the devnet in `home` was sent, read from its own database. */
export function devnetMinerMessages(home: string): DevnetMinerMessage[] {
  return devnetMessages(home).flatMap(({ cid, method, params, exitCode }) => {
    const at = (kind: DevnetMinerMessage['kind'], sectors: number[]): DevnetMinerMessage[] => [{ cid, kind, sectors, exitCode }];
    switch (method) {
      case MinerMethod.PreCommitSectorBatch2:
        return at('precommit', decodePreCommitSectorBatch2(params).sectors.map((s) => s.sectorNumber));
      case MinerMethod.ProveCommitSectors3:
        return at('prove', decodeProveCommitSectors3(params).sectorActivations.map((s) => s.sectorNumber));
      case MinerMethod.ProveReplicaUpdates3:
        return at('update', decodeProveReplicaUpdates3(params).sectorUpdates.map((s) => s.sector));
      default:
        return [];
    }
  });
}

/** One SubmitWindowedPoSt the devnet took into its pool. */
export interface DevnetPostMessage {
  cid: string;
  deadline: number;
  chainCommitEpoch: number;
  partitions: number[];
  /** Null while the message waits in the pool. */
  exitCode: number | null;
}

/** Every Window PoSt message the devnet in `home` was sent, in push order, read from its own database. */
export function devnetPostMessages(home: string): DevnetPostMessage[] {
  return devnetMessages(home).flatMap(({ cid, method, params, exitCode }) => {
    if (method !== MinerMethod.SubmitWindowedPoSt) return [];
    const p = decodeSubmitWindowedPoSt(params);
    return [{ cid, deadline: p.deadline, chainCommitEpoch: p.chainCommitEpoch, partitions: p.partitions.map((x) => x.index), exitCode }];
  });
}

/**
 * A devnet.toml `[chain]` with a proving period of four deadlines of `window` epochs (so that a test sees several
 * periods in seconds), faults declared 8 epochs before a deadline opens; `extra` lines go into the same table.
 */
export function provingDevnetToml(window: number, extra = ''): string {
  return `[chain]
pre_commit_challenge_delay = 2
wpost_proving_period = ${4 * window}
wpost_challenge_window = ${window}
wpost_period_deadlines = 4
wpost_challenge_lookback = 5
fault_declaration_cutoff = 8
${extra}`;
}

/** The Window PoSt messages of the devnet in `home`, keyed by deadline and proving period (of `period` epochs from `offset`). */
export function devnetPostsByDeadline(home: string, period: number, offset: number): { key: string; exitCode: number | null }[] {
  return devnetPostMessages(home).map((m) => ({ key: `deadline ${m.deadline} of period ${Math.floor((m.chainCommitEpoch - offset) / period)}`, exitCode: m.exitCode }));
}

/** The deadline openings the devnet in `home` recorded a proof of `miner` for (the actor's PostSubmissions). */
export function devnetProvenOpenings(home: string, miner: number = TEST_MINER.id): Set<number> {
  const db = new Database(join(home, 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('select deadline_open from post_submissions where miner = ?').all(miner) as { deadline_open: number }[]).map((r) => r.deadline_open));
  } finally {
    db.close();
  }
}

/** The devnet's default miner and its worker account, as TEST_DEVNET_TOML declares them. */
export const TEST_MINER = { id: 1000, address: 't01000', worker: 't0100' } as const;

/** The CommR the test sectors below are sealed with: 32 bytes of the sector number. */
export const testCommR = (n: number): Uint8Array => new Uint8Array(32).fill(n);

/** Sends a message to the test miner, mines the tipset that executes it and returns its lookup. */
export async function sendToMiner(net: TestDevnet, method: number, params: Uint8Array, value = 0n): Promise<MsgLookup> {
  const signed = await net.lotus.mpoolPushMessage({
    To: TEST_MINER.address,
    From: TEST_MINER.worker,
    Value: value.toString(),
    Method: method,
    Params: Buffer.from(params).toString('base64'),
  });
  await net.mine();
  const found = await net.lotus.stateSearchMsg(signed.CID);
  assert.ok(found, 'message executed in the next tipset');
  return found;
}

/**
 * Pre-commits and prove-commits CC 2KiB sectors with mock proofs (for a devnet with pre_commit_challenge_delay 3
 * and the devnet's deposit and pledge); returns the ProveCommitSectors3 lookup.
 */
export async function sealCcSectors(net: TestDevnet, numbers: number[], lifetime = 3000): Promise<MsgLookup> {
  const h = (await net.lotus.chainHead()).Height;
  const entropy = minerEntropy(TEST_MINER.id);
  const pre = encodePreCommitSectorBatch2({
    sectors: numbers.map((n) => ({
      sealProof: 5,
      sectorNumber: n,
      sealedCid: commitmentToCid('sealed', testCommR(n)),
      sealRandEpoch: h - 1,
      dealIds: [],
      expiration: h + lifetime,
      unsealedCid: null,
    })),
  });
  const preLookup = await sendToMiner(net, MinerMethod.PreCommitSectorBatch2, pre, 2048n * 1_000_000n * BigInt(numbers.length));
  assert.equal(preLookup.Receipt.ExitCode, ExitCode.Ok);
  await net.mine(3);
  const ticket = await net.lotus.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, h - 1, entropy);
  const seed = await net.lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, preLookup.Height + 3, entropy);
  const prove = encodeProveCommitSectors3({
    sectorActivations: numbers.map((n) => ({ sectorNumber: n, pieces: [] })),
    sectorProofs: numbers.map((n) => mockSealProof({ miner: TEST_MINER.id, number: n, sealProof: 5, commR: testCommR(n), commD: zeroCommitment(2048), ticket, seed })),
    aggregateProof: new Uint8Array(),
    aggregateProofType: null,
    requireActivationSuccess: true,
    requireNotificationSuccess: true,
  });
  const proven = await sendToMiner(net, MinerMethod.ProveCommitSectors3, prove, 2048n * 5_000_000n * BigInt(numbers.length));
  assert.equal(proven.Receipt.ExitCode, ExitCode.Ok);
  return proven;
}

/**
 * SubmitWindowedPoSt params for the partitions of the open deadline `dl`, built as a poster builds them from the
 * devnet's state reads: the challenged sectors in number order, each faulty, skipped or terminated one replaced
 * by the first good one, and a mock proof over them (tampered with when asked).
 */
export async function windowPoStParams(
  net: TestDevnet,
  dl: DeadlineInfo,
  partitions: PoStPartition[],
  opts: { deadline?: number; chainCommitEpoch?: number; tamper?: boolean } = {},
): Promise<Uint8Array> {
  const chainCommitEpoch = opts.chainCommitEpoch ?? dl.CurrentEpoch;
  const chainCommitRand = await net.lotus.stateGetRandomnessFromTickets(DomainSeparationTag.PoStChainCommit, chainCommitEpoch, new Uint8Array());
  const randomness = await net.lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.WindowedPoStChallengeSeed, dl.Challenge, minerEntropy(TEST_MINER.id));
  const parts = await net.lotus.stateMinerPartitions(TEST_MINER.address, dl.Index);
  const all: number[] = [];
  const ignored = new Set<number>();
  for (const p of partitions) {
    const part = parts[p.index];
    if (!part) continue;
    const members = fromRunsJson(part.AllSectors);
    const live = new Set(fromRunsJson(part.LiveSectors));
    const faulty = new Set(fromRunsJson(part.FaultySectors));
    const recovering = new Set(fromRunsJson(part.RecoveringSectors));
    all.push(...members);
    for (const n of members) {
      if (!live.has(n) || p.skipped.includes(n) || (faulty.has(n) && !recovering.has(n))) ignored.add(n);
    }
  }
  all.sort((a, b) => a - b);
  const good = all.find((n) => !ignored.has(n)) ?? 0;
  const sectors = all.map((n) => (ignored.has(n) ? good : n)).map((n) => ({ number: n, commR: testCommR(n) }));
  const proof = mockWindowPoStProof({ miner: TEST_MINER.id, postProof: 10, randomness, sectors });
  if (opts.tamper) proof[100] = (proof[100] as number) ^ 1;
  return encodeSubmitWindowedPoSt({
    deadline: opts.deadline ?? dl.Index,
    partitions,
    proofs: [{ postProof: 10, proofBytes: proof }],
    chainCommitEpoch,
    chainCommitRand,
  });
}
