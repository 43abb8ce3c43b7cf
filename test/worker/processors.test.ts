import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { unsealedSectorCommitment, zeroCommitment } from '../../src/core/commitment.js';
import { SealingError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/log.js';
import { verifyMockSealProof, verifyMockUpdateProof } from '../../src/core/mockProof.js';
import { fr32Pad, pieceCommitment } from '../../src/core/piece.js';
import { proverId, type AddPiecesTask, type PieceInfo, type Stage, type VerifySnapTask } from '../../src/core/wire/processor.js';
import { createProcessors } from '../../src/worker/processors/index.js';
import { Semaphore } from '../../src/core/semaphore.js';
import { StaggeredGate } from '../../src/worker/processors/limiter.js';
import { EXTERNAL_DEFAULTS, type ExternalProcessorConfig } from '../../src/core/processor/external.js';
import type { Processors, ProcessorsConfig } from '../../src/worker/processors/types.js';
import { tempDir } from '../helpers/processes.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/testProcessor.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
const silent = pino({ level: 'silent' });

const config = (over: Partial<ProcessorsConfig> = {}): ProcessorsConfig => ({
  default: 'mock',
  kinds: {},
  limitation: { concurrent: {}, staggered: {} },
  ext_locks: {},
  static_tree_d: {},
  mock: { stage_time: 0, stage_times: {}, fail: {} },
  external: {},
  ...over,
});

const testProcessor = (stage: Stage, over: Partial<ExternalProcessorConfig> = {}, mode?: 'noready' | 'badready'): ExternalProcessorConfig => ({
  ...EXTERNAL_DEFAULTS,
  bin: process.execPath,
  args: ['--import', TSX, FIXTURE, stage, ...(mode ? [mode] : [])],
  envs: {},
  concurrent: 4,
  timeout: 0,
  stable_wait: 10_000,
  ...over,
});

interface Echoed {
  echoed: unknown;
  in_flight: number;
  pid: number;
}

/** Sends a test-processor task through a stage whose task type it is not (pc1 and c1 outputs are opaque, so they pass). */
const send = (p: Processors, stage: Stage, task: object): Promise<Echoed> =>
  (p.run as (stage: Stage, task: unknown) => Promise<Echoed>)(stage, task);

function capture(): { log: Logger; entries: () => { msg: string; line?: string }[] } {
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { log, entries: () => lines.map((l) => JSON.parse(l) as { msg: string; line?: string }) };
}

async function rejectsWith(promise: Promise<unknown>, level: SealingError['level'], message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SealingError, `expected a SealingError, got ${String(err)}`);
    assert.equal(err.level, level);
    assert.match(err.message, message);
    return true;
  });
}

const bytesOf = (seed: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + 1) % 251));

/** The commitment a piece must have: its payload zero-padded to the unpadded piece size, hashed whole. */
async function expectedPieceCommitment(payload: Uint8Array, pieceSize: number): Promise<Uint8Array> {
  const padded = new Uint8Array(pieceSize);
  padded.set(payload);
  return (await pieceCommitment(padded)).commP;
}

const PROOF = 'StackedDrg2KiBV1_1';
const MINER = 1000;
const NUMBER = 7;
const TICKET = Array.from({ length: 32 }, (_, i) => i);
const SEED = Array.from({ length: 32 }, (_, i) => (i * 3 + 1) % 256);

/** A sector through add_pieces → tree_d → pc1 → pc2 → c1 → c2, as the sealer plan calls them. */
async function seal(p: Processors, dir: string, pieces: AddPiecesTask['pieces']) {
  const staged = join(dir, 'unsealed');
  const cache = join(dir, 'cache');
  const sealed = join(dir, 'sealed');
  const prover = proverId(MINER);
  const infos = await p.run('add_pieces', { seal_proof_type: PROOF, pieces, staged_filepath: staged });
  assert.equal(await p.run('tree_d', { registered_proof: PROOF, staged_file: staged, cache_dir: cache }), true);
  const pc1out = await p.run('pc1', {
    registered_proof: PROOF,
    cache_path: cache,
    in_path: staged,
    out_path: sealed,
    prover_id: prover,
    sector_id: NUMBER,
    ticket: TICKET,
    piece_infos: infos,
  });
  const pc2 = await p.run('pc2', { pc1out, cache_dir: cache, sealed_file: sealed });
  const c1out = await p.run('c1', {
    registered_proof: PROOF,
    cache_path: cache,
    replica_path: sealed,
    prover_id: prover,
    sector_id: NUMBER,
    ticket: TICKET,
    seed: SEED,
    comm_r: pc2.comm_r,
    comm_d: pc2.comm_d,
    piece_infos: infos,
  });
  const { proof } = await p.run('c2', { c1out, prover_id: prover, sector_id: NUMBER, miner_id: MINER });
  return { infos, pc2, proof, staged, cache, sealed };
}

const sealInputs = (commR: number[], commD: Uint8Array) => ({
  miner: MINER,
  number: NUMBER,
  sealProof: 5,
  commR: Uint8Array.from(commR),
  commD,
  ticket: Uint8Array.from(TICKET),
  seed: Uint8Array.from(SEED),
});

describe('stage limiter', () => {
  it('serves waiters first come, first served, and ignores a second release', async () => {
    const s = new Semaphore(2);
    const order: string[] = [];
    const a = await s.acquire();
    const b = await s.acquire();
    const c = s.acquire().then((release) => (order.push('c'), release));
    const d = s.acquire().then((release) => (order.push('d'), release));
    assert.equal(s.waiting, 2);
    a();
    a();
    const releaseC = await c;
    assert.deepEqual(order, ['c']);
    assert.equal(s.waiting, 1);
    b();
    (await d)();
    releaseC();
    assert.deepEqual(order, ['c', 'd']);
    assert.equal(s.inUse, 0);
  });

  it('takes a free token without waiting, and refuses when none is free', () => {
    const s = new Semaphore(1);
    const release = s.tryAcquire();
    assert.ok(release);
    assert.equal(s.tryAcquire(), undefined);
    release();
    assert.ok(s.tryAcquire());
  });

  it('frees a staggered slot at once when its holder finishes', async () => {
    // An hour-long interval: the second start could only come through the holder giving the slot back.
    const gate = new StaggeredGate(3_600_000);
    (await gate.acquire())();
    (await gate.acquire())();
  });
});

describe('external processors', () => {
  it('matches out-of-order answers by id, spreads tasks over entries, and skips lines that are not JSON', async () => {
    const { log, entries } = capture();
    const p = await createProcessors(
      config({
        external: {
          pc1: [testProcessor('pc1', { concurrent: 4 })],
          c1: [testProcessor('c1', { concurrent: 4 }), testProcessor('c1', { concurrent: 4 })],
          tree_d: [testProcessor('tree_d')],
        },
      }),
      log,
    );
    try {
      assert.equal(p.describe('pc1'), 'external(node)');
      assert.equal(p.describe('pc2'), 'mock');
      const finished: number[] = [];
      const tasks = [300, 10, 150].map((delay, i) => send(p, 'pc1', { echo: i, delay }).then((out) => (finished.push(i), out)));
      const outs = await Promise.all(tasks);
      assert.deepEqual(outs.map((o) => o.echoed), [0, 1, 2]);
      assert.deepEqual(finished, [1, 2, 0]);

      // Two children for c1: four slow tasks go two to each (the least loaded entry first).
      const spread = await Promise.all([0, 1, 2, 3].map((i) => send(p, 'c1', { echo: i, delay: 200 })));
      assert.equal(new Set(spread.map((o) => o.pid)).size, 2);
      assert.equal(Math.max(...spread.map((o) => o.in_flight)), 2);

      assert.equal((await send(p, 'pc1', { garbage: true })).echoed, 'garbage');
      assert.ok(entries().some((e) => e.line === 'this is not JSON' && /not JSON/.test(e.msg)));

      await rejectsWith(send(p, 'pc1', { fail: 'no parameters found' }), 'Permanent', /^pc1 \(external\(node\)\): no parameters found$/);
      // tree_d must answer a boolean.
      await rejectsWith(send(p, 'tree_d', { echo: 1 }), 'Permanent', /invalid output/);
    } finally {
      await p.close();
    }
  });

  it('fails a task that gets no answer in time, and keeps the child', async () => {
    const p = await createProcessors(config({ external: { pc1: [testProcessor('pc1', { timeout: 300 })] } }), silent);
    try {
      const hung = send(p, 'pc1', { hang: true });
      const quick = await send(p, 'pc1', { echo: 'quick' });
      assert.equal(quick.echoed, 'quick');
      await rejectsWith(hung, 'Temporary', /no answer within 300ms/);
      const after = await send(p, 'pc1', { echo: 'after' });
      assert.equal(after.pid, quick.pid);
    } finally {
      await p.close();
    }
  });

  it('fails the tasks of a child that dies, then restarts it', async () => {
    const p = await createProcessors(config({ external: { pc1: [testProcessor('pc1')] } }), silent);
    try {
      const before = await send(p, 'pc1', { echo: 'before' });
      const inFlight = send(p, 'pc1', { hang: true });
      await rejectsWith(send(p, 'pc1', { exit: true }), 'Temporary', /child process exited: pc1/);
      await rejectsWith(inFlight, 'Temporary', /child process exited: pc1/);
      // Sent while the child is down: it waits for the restart (after 1 s) and is answered by the new child.
      const next = await send(p, 'pc1', { echo: 'next' });
      assert.equal(next.echoed, 'next');
      assert.notEqual(next.pid, before.pid);
    } finally {
      await p.close();
    }
  });

  it('refuses a child that does not print its ready line, or prints another, or cannot start', async () => {
    await assert.rejects(
      createProcessors(config({ external: { pc1: [testProcessor('pc1', { stable_wait: 800 }, 'noready')] } }), silent),
      /pc1 processor .* did not print "pc1 processor ready" within 800ms/,
    );
    await assert.rejects(
      createProcessors(config({ external: { pc1: [testProcessor('pc1', {}, 'badready')] } }), silent),
      /pc1 processor .* printed "hello, I am a processor" instead of "pc1 processor ready"/,
    );
    await assert.rejects(
      createProcessors(config({ external: { c2: [testProcessor('c2', { bin: '/nonexistent/sealfleet-proofs' })] } }), silent),
      /c2 processor \/nonexistent\/sealfleet-proofs could not be started: .*ENOENT/,
    );
  });

  it('chooses among entries as damocles: slot and locks all at once, most room left wins, else wait for the first', async () => {
    const p = await createProcessors(
      config({
        ext_locks: { gpu: 1 },
        external: {
          pc1: [testProcessor('pc1', { concurrent: 1 }), testProcessor('pc1', { concurrent: 2, locks: ['gpu'] })],
          c1: [testProcessor('c1', { locks: ['gpu'] })],
        },
      }),
      silent,
    );
    try {
      const finished: string[] = [];
      const task = (stage: Stage, name: string, delay: number) => send(p, stage, { echo: name, delay }).then((out) => (finished.push(name), out));
      const [a, b, c, d] = await Promise.all([task('pc1', 'a', 400), task('pc1', 'b', 400), task('pc1', 'c', 0), task('c1', 'd', 0)]);
      // a: both entries free, the second has more room. b: the gpu is a's, so the first entry. c: neither is
      // free, so it waits for the first entry, behind b. d: c1 shares the gpu lock with a, so it waits for a.
      assert.notEqual(a!.pid, b!.pid);
      assert.equal(c!.pid, b!.pid);
      assert.equal(c!.in_flight, 1, 'c ran alone on the first entry');
      assert.ok(finished.indexOf('d') > finished.indexOf('a'), `c1 waited for the gpu lock: ${finished.join(', ')}`);
      assert.ok(finished.indexOf('c') > finished.indexOf('b'), finished.join(', '));
      assert.equal(d!.in_flight, 1);
    } finally {
      await p.close();
    }
  });

  it('starts a child unpinned, with one warning, when its cpuset names CPUs the worker may not use', async () => {
    const { log, entries } = capture();
    const p = await createProcessors(config({ external: { pc1: [testProcessor('pc1', { cpuset: '4095' })] } }), log);
    try {
      assert.equal((await send(p, 'pc1', { echo: 'runs' })).echoed, 'runs');
      const warnings = entries().filter((e) => /cgroup\.cpuset "4095" has no effect/.test(e.msg));
      assert.equal(warnings.length, 1, JSON.stringify(entries()));
    } finally {
      await p.close();
    }
  });

  it('runs at most limitation.concurrent tasks of a stage at once', async () => {
    const p = await createProcessors(
      config({
        limitation: { concurrent: { pc1: 2 }, staggered: {} },
        external: { pc1: [testProcessor('pc1', { concurrent: 8 })], c1: [testProcessor('c1', { concurrent: 8 })] },
      }),
      silent,
    );
    try {
      const burst = (stage: Stage) => Promise.all([0, 1, 2, 3].map((i) => send(p, stage, { echo: i, delay: 150 })));
      const [limited, free] = await Promise.all([burst('pc1'), burst('c1')]);
      assert.equal(Math.max(...limited.map((o) => o.in_flight)), 2);
      assert.equal(Math.max(...free.map((o) => o.in_flight)), 4);
    } finally {
      await p.close();
    }
  });
});

describe('mock processors', () => {
  let dir: string;
  let url: string;
  const server = createServer((req, res) => {
    if (req.url === '/pieces/b?token=t') res.end(bytesOf(2, 700));
    else res.writeHead(404).end();
  });
  before(async () => {
    dir = tempDir('processors-mock');
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('seals a CC sector whose proof the mock verifier accepts for its public inputs', async () => {
    const p = await createProcessors(config(), silent);
    const out = await seal(p, join(dir, 'cc'), []);
    assert.deepEqual(out.infos, [{ commitment: Array.from(zeroCommitment(2048)), size: 2032 }]);
    assert.deepEqual(out.pc2.comm_d, Array.from(zeroCommitment(2048)));
    assert.equal(out.pc2.comm_r[31]! & 0xc0, 0);
    assert.ok(verifyMockSealProof(Uint8Array.from(out.proof), sealInputs(out.pc2.comm_r, zeroCommitment(2048))));
    const tampered = [...out.proof];
    tampered[20] = tampered[20]! ^ 1;
    assert.ok(!verifyMockSealProof(Uint8Array.from(tampered), sealInputs(out.pc2.comm_r, zeroCommitment(2048))));
    assert.equal(statSync(out.staged).size, 2048);
    assert.equal(statSync(out.sealed).size, 2048);
    for (const file of ['sc-02-data-tree-d.dat', 'p_aux', 't_aux', 'sc-02-data-tree-r-last.dat']) {
      assert.ok(existsSync(join(out.cache, file)), file);
    }
    const verify = { registered_proof: PROOF, comm_r: out.pc2.comm_r, comm_d: out.pc2.comm_d, prover_id: proverId(MINER), sector_id: NUMBER, ticket: TICKET, seed: SEED };
    assert.equal(await p.run('verify_seal', { ...verify, proof: out.proof }), true);
    assert.equal(await p.run('verify_seal', { ...verify, proof: tampered }), false);
    assert.equal(await p.run('verify_seal', { ...verify, sector_id: NUMBER + 1, proof: out.proof }), false);
    // C1 refuses commitments that are not the sector's, as the real one would.
    const c1 = { ...verify, cache_path: out.cache, replica_path: out.sealed, piece_infos: out.infos };
    await rejectsWith(p.run('c1', { ...c1, comm_r: SEED }), 'Permanent', /comm_r is not the mock replica's/);
    await rejectsWith(p.run('c1', { ...c1, comm_d: SEED }), 'Permanent', /comm_d is not the commitment of the sector's pieces/);
    const c1out = await p.run('c1', c1);
    await rejectsWith(p.run('c2', { c1out, prover_id: proverId(MINER), sector_id: NUMBER + 1, miner_id: MINER }), 'Permanent', /c1out belongs to another sector/);
  });

  it('seals a sector of two pieces (a local file and a URL) with their real commitments', async () => {
    const p = await createProcessors(config(), silent);
    const a = bytesOf(1, 300);
    const b = bytesOf(2, 700);
    const local = join(dir, 'piece-a');
    writeFileSync(local, a);
    const out = await seal(p, join(dir, 'deals'), [
      { piece_file: { local }, payload_size: 300, piece_size: 508 },
      { piece_file: { url: `${url}/pieces/b?token=t` }, payload_size: 700, piece_size: 1016 },
    ]);
    const commA = await expectedPieceCommitment(a, 508);
    const commB = await expectedPieceCommitment(b, 1016);
    assert.deepEqual(out.infos, [
      { commitment: Array.from(commA), size: 508 },
      { commitment: Array.from(commB), size: 1016 },
    ]);
    const commD = unsealedSectorCommitment(2048, [
      { size: 512, commitment: commA },
      { size: 1024, commitment: commB },
    ]);
    assert.deepEqual(out.pc2.comm_d, Array.from(commD));
    assert.ok(verifyMockSealProof(Uint8Array.from(out.proof), sealInputs(out.pc2.comm_r, commD)));
    assert.ok(!verifyMockSealProof(Uint8Array.from(out.proof), sealInputs(out.pc2.comm_r, zeroCommitment(2048))));

    await rejectsWith(
      p.run('add_pieces', { seal_proof_type: PROOF, pieces: [{ piece_file: { url: `${url}/pieces/missing` }, payload_size: 10, piece_size: 127 }], staged_filepath: join(dir, 'x') }),
      'Permanent',
      /HTTP 404/,
    );
    await rejectsWith(
      p.run('add_pieces', { seal_proof_type: PROOF, pieces: [{ piece_file: { local }, payload_size: 400, piece_size: 508 }], staged_filepath: join(dir, 'x') }),
      'Permanent',
      /has 300 bytes, but its payload_size is 400/,
    );
    await rejectsWith(
      p.run('add_pieces', { seal_proof_type: PROOF, pieces: [1016, 1016, 127].map((size) => ({ piece_file: 'pledge' as const, payload_size: size, piece_size: size })), staged_filepath: join(dir, 'x') }),
      'Permanent',
      /more than the 2048-byte sector/,
    );
  });

  it('snaps a sector with an update proof the mock verifier accepts', async () => {
    const p = await createProcessors(config(), silent);
    const pieces: PieceInfo[] = [{ commitment: Array.from(await expectedPieceCommitment(bytesOf(3, 900), 1016)), size: 1016 }];
    const commROld = Array.from({ length: 32 }, (_, i) => (i * 5) % 64);
    const snapDir = join(dir, 'snap');
    const paths = {
      registered_proof: 'StackedDrg2KiBV1',
      new_replica_path: join(snapDir, 'update', 's-t01000-7'),
      new_cache_path: join(snapDir, 'update-cache', 's-t01000-7'),
      sector_path: join(snapDir, 'sealed', 's-t01000-7'),
      sector_cache_path: join(snapDir, 'cache', 's-t01000-7'),
    };
    const encoded = await p.run('snap_encode', { ...paths, staged_data_path: join(snapDir, 'staged'), piece_infos: pieces });
    const commDNew = unsealedSectorCommitment(2048, [{ size: 1024, commitment: Uint8Array.from(pieces[0]!.commitment) }]);
    assert.deepEqual(encoded.comm_d_new, Array.from(commDNew));
    assert.equal(statSync(paths.new_replica_path).size, 2048);
    assert.deepEqual(readdirSync(paths.new_cache_path).sort(), ['p_aux', 'sc-02-data-tree-r-last.dat']);

    const comms = { comm_r_old: commROld, comm_r_new: encoded.comm_r_new, comm_d_new: encoded.comm_d_new };
    const vanilla = await p.run('snap_partition_proofs', { ...paths, ...comms, sector_id: NUMBER, miner_id: MINER });
    const proof = await p.run('snap_prove', { registered_proof: 'StackedDrg2KiBV1', vannilla_proofs: vanilla, ...comms });
    const inputs = { miner: MINER, number: NUMBER, updateProof: 0, oldCommR: Uint8Array.from(commROld), newCommR: Uint8Array.from(encoded.comm_r_new), newCommD: commDNew };
    assert.ok(verifyMockUpdateProof(Uint8Array.from(proof), inputs));
    assert.ok(!verifyMockUpdateProof(Uint8Array.from(proof), { ...inputs, number: NUMBER + 1 }));

    const keyed: VerifySnapTask = { registered_proof: 'StackedDrg2KiBV1', ...comms, proof, miner_id: MINER, sector_id: NUMBER };
    assert.equal(await p.run('verify_snap', keyed), true);
    assert.equal(await p.run('verify_snap', { ...keyed, proof: proof.map((b, i) => (i === 30 ? b ^ 1 : b)) }), false);
    assert.equal(await p.run('verify_snap', { ...keyed, sector_id: NUMBER + 1 }), false);
  });

  it('injects failures and waits the configured stage time', async () => {
    const p = await createProcessors(config({ mock: { stage_time: 0, stage_times: { tree_d: 120 }, fail: { pc2: 1 } } }), silent);
    await rejectsWith(p.run('pc2', { pc1out: {}, cache_dir: dir, sealed_file: join(dir, 's') }), 'Permanent', /^pc2 \(mock\): mock failure injected at pc2$/);
    const started = Date.now();
    await p.run('tree_d', { registered_proof: PROOF, staged_file: join(dir, 's'), cache_dir: join(dir, 'wait') });
    assert.ok(Date.now() - started >= 100);
    await rejectsWith(p.run('pc2', { pc1out: { mock: false }, cache_dir: dir, sealed_file: join(dir, 's') }), 'Permanent', /mock failure/);
    const noFail = await createProcessors(config(), silent);
    await rejectsWith(noFail.run('pc2', { pc1out: { real: true }, cache_dir: dir, sealed_file: join(dir, 's') }), 'Permanent', /pc1out is not an output of the mock pc1 processor/);
  });
});

describe('builtin processors', () => {
  let dir: string;
  let p: Processors;
  let mock: Processors;
  before(async () => {
    dir = tempDir('processors-builtin');
    p = await createProcessors(config({ default: 'builtin', kinds: Object.fromEntries(['pc1', 'pc2', 'c1', 'c2', 'snap_encode', 'snap_partition_proofs', 'snap_prove', 'verify_seal', 'verify_snap', 'window_post'].map((s) => [s, 'mock'])) }), silent);
    mock = await createProcessors(config(), silent);
  });
  after(async () => {
    await Promise.all([p.close(), mock.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** add_pieces then tree_d; returns the piece infos, the staged file and the tree file. */
  async function build(name: string, proof: string, pieces: AddPiecesTask['pieces']) {
    const staged = join(dir, name, 'staged');
    const cache = join(dir, name, 'prepared');
    const infos = await p.run('add_pieces', { seal_proof_type: proof, pieces, staged_filepath: staged });
    assert.equal(await p.run('tree_d', { registered_proof: proof, staged_file: staged, cache_dir: cache }), true);
    const tree = readFileSync(join(cache, 'sc-02-data-tree-d.dat'));
    assert.deepEqual(readdirSync(cache), ['sc-02-data-tree-d.dat']);
    return { infos, staged: readFileSync(staged), tree, root: tree.subarray(tree.length - 32) };
  }

  it('builds the tree_d of a CC sector: the zero commitment', async () => {
    const { infos, staged, tree, root } = await build('cc', PROOF, []);
    assert.deepEqual(infos, [{ commitment: Array.from(zeroCommitment(2048)), size: 2032 }]);
    assert.deepEqual(staged, Buffer.alloc(2048));
    assert.equal(tree.length, 2 * 2048 - 32);
    assert.deepEqual(new Uint8Array(root), zeroCommitment(2048));
  });

  it('lays out two pieces Fr32-padded and aligned, with a tree_d root equal to CommD and to the mock pc1 comm_d', async () => {
    const a = bytesOf(4, 300);
    const b = bytesOf(5, 1000);
    writeFileSync(join(dir, 'a'), a);
    writeFileSync(join(dir, 'b'), Buffer.concat([b, Buffer.from('trailing bytes beyond payload_size')]));
    const pieces: AddPiecesTask['pieces'] = [
      { piece_file: { local: join(dir, 'a') }, payload_size: 300, piece_size: 508 },
      { piece_file: { local: join(dir, 'b') }, payload_size: 1000, piece_size: 1016 },
    ];
    const { infos, staged, tree, root } = await build('deals', PROOF, pieces);
    const commA = await expectedPieceCommitment(a, 508);
    const commB = await expectedPieceCommitment(b, 1016);
    assert.deepEqual(infos, [
      { commitment: Array.from(commA), size: 508 },
      { commitment: Array.from(commB), size: 1016 },
    ]);
    const padTo = (payload: Uint8Array, size: number): Buffer => {
      const out = Buffer.alloc(size);
      out.set(payload);
      return Buffer.from(fr32Pad(out));
    };
    assert.deepEqual(staged.subarray(0, 512), padTo(a, 508));
    assert.deepEqual(staged.subarray(512, 1024), Buffer.alloc(512));
    assert.deepEqual(staged.subarray(1024), padTo(b, 1016));
    assert.deepEqual(tree.subarray(0, 2048), staged);

    const commD = unsealedSectorCommitment(2048, [
      { size: 512, commitment: commA },
      { size: 1024, commitment: commB },
    ]);
    assert.deepEqual(new Uint8Array(root), commD);
    const pc1out = (await mock.run('pc1', {
      registered_proof: PROOF,
      cache_path: join(dir, 'deals', 'cache'),
      in_path: join(dir, 'deals', 'staged'),
      out_path: join(dir, 'deals', 'sealed'),
      prover_id: proverId(MINER),
      sector_id: NUMBER,
      ticket: TICKET,
      piece_infos: infos,
    })) as { comm_d: number[] };
    assert.deepEqual(pc1out.comm_d, Array.from(root));
    // The mock's piece infos are the same commitments, without writing the data.
    assert.deepEqual(await mock.run('add_pieces', { seal_proof_type: PROOF, pieces, staged_filepath: join(dir, 'mock-staged') }), infos);
  });

  it('builds an 8MiB tree_d over several hashing batches', async () => {
    const payload = bytesOf(6, 200_000);
    writeFileSync(join(dir, 'big'), payload);
    const pieces: AddPiecesTask['pieces'] = [
      { piece_file: 'pledge', payload_size: 127 * 1024, piece_size: 127 * 1024 },
      { piece_file: { local: join(dir, 'big') }, payload_size: payload.length, piece_size: 127 * 2048 },
    ];
    const { infos, tree, root } = await build('8m', 'StackedDrg8MiBV1_1', pieces);
    assert.equal(tree.length, 2 * 8 * 1024 ** 2 - 32);
    assert.deepEqual(infos[0]!.commitment, Array.from(zeroCommitment(128 * 1024)));
    assert.deepEqual(infos[1]!.commitment, Array.from(await expectedPieceCommitment(payload, 127 * 2048)));
    const expected = unsealedSectorCommitment(8 * 1024 ** 2, infos.map((i) => ({ size: (i.size / 127) * 128, commitment: Uint8Array.from(i.commitment) })));
    assert.deepEqual(new Uint8Array(root), expected);
  });

  it('refuses tree_d above 512MiB', async () => {
    await rejectsWith(
      p.run('tree_d', { registered_proof: 'StackedDrg32GiBV1_1', staged_file: join(dir, 'none'), cache_dir: join(dir, 'none-cache') }),
      'Permanent',
      /builtin tree_d builds sectors up to 512MiB, not 32GiB/,
    );
    assert.ok(!existsSync(join(dir, 'none-cache')));
  });

  it('computes the piece commitment of a file', async () => {
    const payload = bytesOf(7, 5000);
    writeFileSync(join(dir, 'piece'), payload);
    const out = await p.run('piece_commitment', { piece_file: join(dir, 'piece') });
    assert.deepEqual(out, { commitment: Array.from((await pieceCommitment(payload)).commP), padded_size: 8192, payload_size: 5000 });
    assert.equal(p.describe('piece_commitment'), 'builtin');
  });

  it('transfers files and directories idempotently, leaving no temporary files', async () => {
    const src = join(dir, 'transfer-src');
    mkdirSync(join(src, 'cache', 'nested'), { recursive: true });
    writeFileSync(join(src, 'sealed'), 'replica');
    writeFileSync(join(src, 'cache', 'p_aux'), 'paux');
    writeFileSync(join(src, 'cache', 'nested', 'deep'), 'deep');
    const dest = join(dir, 'store');
    const routes = [
      { src: join(src, 'sealed'), dest: join(dest, 'sealed', 's-t01000-7'), is_dir: false },
      { src: join(src, 'cache'), dest: join(dest, 'cache', 's-t01000-7'), is_dir: true },
    ];
    assert.equal(await p.run('transfer', { routes }), true);
    writeFileSync(join(src, 'sealed'), 'replica v2');
    assert.equal(await p.run('transfer', { routes }), true);
    assert.equal(readFileSync(join(dest, 'sealed', 's-t01000-7'), 'utf8'), 'replica v2');
    assert.equal(readFileSync(join(dest, 'cache', 's-t01000-7', 'nested', 'deep'), 'utf8'), 'deep');
    assert.deepEqual(readdirSync(join(dest, 'sealed')), ['s-t01000-7']);
    assert.deepEqual(readdirSync(join(dest, 'cache')), ['s-t01000-7']);
    await rejectsWith(p.run('transfer', { routes: [{ src: join(src, 'missing'), dest: join(dest, 'm'), is_dir: false }] }), 'Permanent', /does not exist/);
    await rejectsWith(p.run('transfer', { routes: [{ ...routes[0]!, is_dir: true }] }), 'Permanent', /not a directory/);
    await rejectsWith(p.run('transfer', { routes: [{ ...routes[0]!, dest: 'relative/path' }] }), 'Permanent', /absolute paths/);
  });
});

describe('processor config', () => {
  it('refuses builtin for a stage builtin does not implement, naming what it covers', async () => {
    await assert.rejects(
      createProcessors(config({ kinds: { pc1: 'builtin' } }), silent),
      /stage pc1 is set to "builtin", but builtin only covers add_pieces, tree_d, piece_commitment, transfer/,
    );
    await assert.rejects(createProcessors(config({ default: 'builtin' }), silent), /stage pc1 is set to "builtin"/);
  });

  it('refuses an external stage without a [[processors.<stage>]] section', async () => {
    await assert.rejects(createProcessors(config({ kinds: { c2: 'external' } }), silent), /stage c2 is set to "external", but there is no \[\[processors\.c2\]\] section/);
  });

  it('refuses tasks once closed', async () => {
    const p = await createProcessors(config(), silent);
    await p.close();
    await rejectsWith(p.run('tree_d', { registered_proof: PROOF, staged_file: 'x', cache_dir: 'y' }), 'Temporary', /processors are closed/);
  });
});
