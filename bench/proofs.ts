import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import { parse, stringify } from 'smol-toml';
import { commitmentToCid } from '../src/core/commitment.js';
import { pieceCommitment } from '../src/core/piece.js';
import { sealProofForSize } from '../src/core/proofTypes.js';
import { RpcClient } from '../src/core/rpc/client.js';
import { proverId } from '../src/core/wire/processor.js';
import type { SectorEvent, SectorSummary } from '../src/manager/api/admin.js';
import { defaultDevnetConfig } from '../src/manager/config.js';
import { checkParams, findSidecar, SidecarClient, type Sidecar } from '../src/core/processor/sidecar.js';
import { sectorPaths } from '../src/worker/paths.js';
import { builtinHandlers } from '../src/worker/processors/builtin.js';
import { NO_PIECE_ACCESS } from '../src/worker/processors/pieces.js';
import { writeWorkerConfig } from '../test/helpers/worker.js';
import { fmt, skipped, verdict, type Figure } from './lib.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));
const WORKER_BIN = fileURLToPath(new URL('../bin/sealfleet-worker.js', import.meta.url));

const SECTOR_SIZE = 2048;
const MINER = 1000;
/** The devnet miner's seal proof, by the variant name the worker's tasks use. */
const PROOF = sealProofForSize(SECTOR_SIZE).name;
/** A real 2KiB C2 takes ~47 s on 2 cores; this leaves room for a slower machine without hanging for ever. */
const SEAL_DEADLINE_MS = 15 * 60_000;
const PIECE_MIB = 256;
const MiB = 1024 ** 2;

/** The stages of a CC seal in the order the worker runs them, with the sector event that ends each. */
const SEAL_STAGES = [
  ['add_pieces', 'AddPiece'],
  ['tree_d', 'BuildTreeD'],
  ['pc1', 'PC1'],
  ['pc2', 'PC2'],
  ['c1', 'C1'],
  ['c2', 'C2'],
] as const;
type SealStage = (typeof SEAL_STAGES)[number][0];

/** States a sector sits in while the chain, not a processor, has the next move. */
const CHAIN_WAITS = [
  ['PCSubmitted', 'PCLanded'],
  ['PersistanceSubmitted', 'SeedAssigned'],
  ['ProofSubmitted', 'Finished'],
] as const;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const seconds = (ms: number): string => `${fmt(ms / 1000, 1)} s`;

async function timedMs<T>(run: () => Promise<T>): Promise<{ ms: number; out: T }> {
  const t = performance.now();
  const out = await run();
  return { ms: performance.now() - t, out };
}

interface Daemon {
  line: string;
  /** SIGTERM, so the daemon closes its own sidecar children; SIGKILL if it has not exited after a grace period. */
  stop(): Promise<void>;
}

/** Spawns `node <bin> <args>` and resolves once a stdout line matches `ready`. */
function startDaemon(bin: string, args: string[], ready: RegExp): Promise<Daemon> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, SEALFLEET_LOG: 'info' } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(kill);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error(`${basename(bin)} did not print ${ready} within 60 s`))), 60_000);
    // Read every line, not just up to the ready one: a full stdout pipe would stall the daemon.
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!ready.test(line)) return;
      clearTimeout(timer);
      resolve({ line, stop });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${basename(bin)} exited (${signal ?? code}) before printing ${ready}`));
    });
  });
}

/** The devnet manager.toml with numbering capped at one sector, so the worker seals exactly one. */
function oneSectorManagerToml(persistPath: string): string {
  const config = parse(defaultDevnetConfig(persistPath)) as { miners: { sector: Record<string, unknown> }[] };
  for (const miner of config.miners) miner.sector.max_number = 1;
  return stringify(config);
}

/** Polls the manager's event log of the only sector until its `Finish`; a failure that would pause or drop it ends the wait. */
async function waitForFinish(rpc: RpcClient): Promise<SectorEvent[]> {
  const deadline = Date.now() + SEAL_DEADLINE_MS;
  while (Date.now() < deadline) {
    const [sector] = await rpc.call<SectorSummary[]>('SealFleet.SectorsList');
    if (sector) {
      const events = await rpc.call<SectorEvent[]>('SealFleet.SectorLog', [{ Miner: sector.Miner, Number: sector.Number }]);
      const failure = events.find((e) => e.FailureLevel !== null && e.FailureLevel !== 'Temporary');
      if (failure || sector.Status === 'aborted') {
        throw new Error(`sector ${sector.Sector} failed in the cluster: ${failure?.FailureDesc ?? sector.AbortReason ?? 'aborted'}`);
      }
      if (events.some((e) => e.Event === 'Finish')) return events;
    }
    await sleep(250);
  }
  throw new Error(`the cluster did not finish its sector within ${seconds(SEAL_DEADLINE_MS)}`);
}

/** One CC sector through manager + devnet (verifying real proofs) + a one-thread sidecar worker; its event log. */
async function sealThroughCluster(): Promise<SectorEvent[]> {
  const home = mkdtempSync(join(tmpdir(), 'sealfleet-bench-proofs-'));
  const cleanup: (() => Promise<void>)[] = [];
  try {
    mkdirSync(join(home, 'devnet'));
    writeFileSync(join(home, 'devnet', 'devnet.toml'), '[chain]\nblock_time = "100ms"\npre_commit_challenge_delay = 2\nproof_verifier = "sidecar"\n');
    writeFileSync(join(home, 'manager.toml'), oneSectorManagerToml(join(home, 'persist')));
    const manager = await startDaemon(MANAGER_BIN, ['daemon', '--devnet', '--devnet-proofs', 'sidecar', '--home', home, '--listen', '127.0.0.1:0'], /"manager up"/);
    cleanup.push(manager.stop);
    const url = (JSON.parse(manager.line) as { url: string }).url;
    const token = readFileSync(join(home, 'token'), 'utf8').trim();
    const config = await writeWorkerConfig(join(home, 'worker'), { url, home }, { threads: [{ plan: 'sealer' }], processors: '[processors]\ndefault = "sidecar"\n' });
    const worker = await startDaemon(WORKER_BIN, ['daemon', '-c', config], /"worker up"/);
    cleanup.push(worker.stop);
    return await waitForFinish(new RpcClient({ url: `${url}/rpc/v0`, token, timeoutMs: 20_000 }));
  } finally {
    for (const stop of cleanup.reverse()) await stop();
    rmSync(home, { recursive: true, force: true });
  }
}

/**
 * The worker's calls for one CC sector, back to back, without manager, chain or state machine: builtin add_pieces,
 * then the sidecar's tree_d … c2 with the task JSON of src/worker/steps. Returns each stage's ms and the total.
 */
async function sealBackToBack(sidecar: Sidecar, log: Logger): Promise<{ stages: Record<SealStage, number>; total: number; verified: boolean }> {
  const addPieces = builtinHandlers(NO_PIECE_ACCESS).add_pieces;
  if (!addPieces) throw new Error('builtin add_pieces is gone: the baseline needs it');
  const dir = mkdtempSync(join(tmpdir(), 'sealfleet-bench-proofs-'));
  // Started before any timing, as the worker starts its children; closed at the end.
  const children = new SidecarClient(sidecar, log);
  try {
    const [treeD, pc1, pc2, c1, c2, verify] = await Promise.all([
      children.start('tree_d'),
      children.start('pc1'),
      children.start('pc2'),
      children.start('c1'),
      children.start('c2'),
      children.start('verify_seal'),
    ]);
    const files = sectorPaths(dir, { miner: MINER, number: 1 });
    const sector = { prover_id: proverId(MINER), sector_id: 1 };
    const ticket = Array.from({ length: 32 }, (_, i) => i);
    const seed = Array.from({ length: 32 }, (_, i) => 255 - i);
    const stages = {} as Record<SealStage, number>;
    const timed = async <T>(stage: SealStage, run: () => Promise<T>): Promise<T> => {
      const { ms, out } = await timedMs(run);
      stages[stage] = ms;
      return out;
    };

    const start = performance.now();
    await mkdir(dirname(files.staged), { recursive: true });
    const pieceInfos = await timed('add_pieces', () => addPieces({ seal_proof_type: PROOF, pieces: [], staged_filepath: files.staged }));
    await mkdir(files.cache, { recursive: true });
    await timed('tree_d', () => treeD.run({ registered_proof: PROOF, staged_file: files.staged, cache_dir: files.cache }));
    await mkdir(dirname(files.sealed), { recursive: true });
    const pc1out = await timed('pc1', () =>
      pc1.run({ registered_proof: PROOF, cache_path: files.cache, in_path: files.staged, out_path: files.sealed, ...sector, ticket, piece_infos: pieceInfos }),
    );
    const { comm_r, comm_d } = await timed('pc2', () => pc2.run({ pc1out, cache_dir: files.cache, sealed_file: files.sealed }));
    const c1out = await timed('c1', () =>
      c1.run({ registered_proof: PROOF, cache_path: files.cache, replica_path: files.sealed, ...sector, ticket, seed, comm_r, comm_d, piece_infos: pieceInfos }),
    );
    const { proof } = await timed('c2', () => c2.run({ c1out, ...sector, miner_id: MINER }));
    const total = performance.now() - start;

    // Not timed: only shows the baseline made a proof as real as the one the devnet accepted from the cluster.
    const verified = await verify.run({ registered_proof: PROOF, comm_r, comm_d, ...sector, ticket, seed, proof });
    return { stages, total, verified };
  } finally {
    await children.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** ms from entering state `from` (the last time before `to`) to entering `to`. */
function stateSpan(events: SectorEvent[], from: string, to: string): number {
  const end = events.findIndex((e) => e.Next === to);
  const start = events.findLastIndex((e, i) => i < end && e.Next === from);
  if (end < 0 || start < 0) throw new Error(`the sector log has no ${from} → ${to}`);
  return (events[end] as SectorEvent).At - (events[start] as SectorEvent).At;
}

/** ms from the event before `event` to `event`: the step that ended with it, including its own reporting. */
function stepSpan(events: SectorEvent[], event: string): number {
  const i = events.findIndex((e) => e.Event === event);
  if (i < 1) throw new Error(`the sector log has no ${event} step`);
  return (events[i] as SectorEvent).At - (events[i - 1] as SectorEvent).At;
}

/**
 * A real 2KiB seal through the cluster against the same sidecar calls back to back. The cluster is measured
 * first: anything that warms up (page cache, parent cache) then favours the baseline, so the ratio errs high.
 */
async function benchSeal(sidecar: Sidecar, log: Logger): Promise<Figure> {
  const events = await sealThroughCluster();
  const baseline = await sealBackToBack(sidecar, log);

  const first = events[0] as SectorEvent;
  const finish = events.find((e) => e.Event === 'Finish') as SectorEvent;
  const cluster = finish.At - first.At;
  const waits = CHAIN_WAITS.map(([from, to]) => ({ label: `${from}→${to}`, ms: stateSpan(events, from, to) }));
  const waiting = waits.reduce((sum, w) => sum + w.ms, 0);
  const working = cluster - waiting;

  const stages = SEAL_STAGES.map(([stage, event]) => `${stage} ${fmt(stepSpan(events, event), 0)}/${fmt(baseline.stages[stage], 0)}`).join(', ');
  const ratio = cluster / baseline.total;
  return {
    figure: 'real 2KiB seal through the cluster',
    measured:
      `${seconds(cluster)} from the sector's first event to Finish (${seconds(working)} without ${seconds(waiting)} of chain waits: ${waits.map((w) => `${w.label} ${seconds(w.ms)}`).join(', ')}); ` +
      `per stage, cluster step / back-to-back call, ms: ${stages}`,
    baseline: `same sidecar calls back to back ${seconds(baseline.total)} (proof verifies: ${baseline.verified})`,
    ratio: `${fmt(ratio, 2)} (${fmt(working / baseline.total, 2)} without chain waits)`,
    target: '≤ 1.15',
    verdict: verdict(ratio, '≤', 1.15),
  };
}

/** 256 MiB of random bytes in `dir`, written in 4 MiB chunks. */
function randomFile(dir: string): string {
  const path = join(dir, 'piece.bin');
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < PIECE_MIB / 4; i++) writeSync(fd, randomBytes(4 * MiB));
  } finally {
    closeSync(fd);
  }
  return path;
}

/**
 * Piece-commitment throughput over one 256 MiB random payload (in the page cache after it is written): the
 * sidecar's piece_commitment stage and TypeScript's `pieceCommitment`, each against `sha256sum` of the same file
 * as the baseline — one SHA-256 pass, where CommP hashes about twice the (Fr32-padded) bytes.
 */
async function benchPieceCommitment(sidecar: Sidecar, log: Logger): Promise<Figure> {
  const dir = mkdtempSync(join(tmpdir(), 'sealfleet-bench-commp-'));
  // Started before any timing, as the worker starts its children; closed at the end.
  const children = new SidecarClient(sidecar, log);
  try {
    const file = randomFile(dir);
    const stage = await children.start('piece_commitment');
    const sha = await timedMs(() => promisify(execFile)('sha256sum', [file]));
    const side = await timedMs(() => stage.run({ piece_file: file }));
    const ts = await timedMs(() => pieceCommitment(createReadStream(file, { highWaterMark: 4 * MiB })));

    const rate = (ms: number): number => PIECE_MIB / (ms / 1000);
    const shaRate = rate(sha.ms);
    const sideCid = commitmentToCid('unsealed', Uint8Array.from(side.out.commitment)).toString();
    const agree = sideCid === ts.out.pieceCid ? `CIDs agree (${sideCid})` : `CIDs DIFFER: sidecar ${sideCid}, TypeScript ${ts.out.pieceCid}`;
    // Just over 254 MiB, the payload makes a 512 MiB piece; neither side hashes the zero half (both fold in
    // precomputed zero subtrees), so the rates are of the payload alone.
    return {
      figure: `piece commitment, ${PIECE_MIB} MiB`,
      measured: `sidecar ${fmt(rate(side.ms))} MiB/s; TypeScript ${fmt(rate(ts.ms))} MiB/s (${side.out.padded_size / MiB} MiB padded piece; ${agree})`,
      baseline: `sha256sum ${fmt(shaRate)} MiB/s`,
      ratio: `${fmt(rate(side.ms) / shaRate, 2)}; ${fmt(rate(ts.ms) / shaRate, 2)}`,
      target: '—',
      verdict: '—',
    };
  } finally {
    await children.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Benchmarks that need the sealfleet-proofs sidecar and its 2KiB parameters; skipped, saying why, when they are missing. */
export async function benchProofs(): Promise<Figure[]> {
  const figures = ['real 2KiB seal through the cluster', `piece commitment, ${PIECE_MIB} MiB`];
  const sidecar = findSidecar();
  if (!sidecar) return figures.map((f) => skipped(f, 'no sealfleet-proofs sidecar (build it with "npm run build:proofs")'));
  const params = await checkParams(sidecar, SECTOR_SIZE);
  if (!params.ready) return figures.map((f) => skipped(f, `${sidecar.paramCache} lacks the 2KiB parameters (${params.missing.map((p) => basename(p)).join(', ')})`));
  const log = pino({ name: 'bench-proofs', level: 'warn' });
  return [await benchSeal(sidecar, log), await benchPieceCommitment(sidecar, log)];
}
