import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LotusClient } from '../../src/chain/client.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import { cidToCommitment, commitmentToCid, unsealedSectorCommitment } from '../../src/core/commitment.js';
import { createLogger } from '../../src/core/log.js';
import { pieceCommitment } from '../../src/core/piece.js';
import { sidecarVerifier } from '../../src/devnet/verifier.js';
import type { SectorDetail, SectorSummary } from '../../src/manager/api/admin.js';
import { sidecarEnv, SidecarClient, type Sidecar } from '../../src/core/processor/sidecar.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { realProofs, SIDECAR_PROCESSORS } from '../helpers/proofs.js';
import { oneSectorPerThread, startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

/**
 * Real sealing: 2KiB sectors sealed and proven by the sealfleet-proofs sidecar through the whole cluster,
 * with the devnet verifying every proof through the sidecar too. Needs the sidecar built and its 2KiB
 * parameters generated (`.ci/run` does both); without them the suite is skipped, unless
 * SEALFLEET_REQUIRE_PROOFS=1 (CI) makes that a failure.
 */

const { sidecar, unavailable } = await realProofs();

const MINER = 't01000';
const TAMPERING_C2 = fileURLToPath(new URL('../fixtures/tamperingC2.ts', import.meta.url));

const sectors = (m: TestManager, status?: string) => m.call<SectorSummary[]>('SealFleet.SectorsList', [status ? { Status: status } : {}]);
const detail = (m: TestManager, s: SectorSummary) => m.call<SectorDetail>('SealFleet.SectorState', [{ Miner: s.Miner, Number: s.Number }]);
type Pieces = { Piece: { Size: number; PieceCID: { '/': string } } }[];
const piecesOf = async (m: TestManager, s: SectorSummary): Promise<Pieces> => (await detail(m, s)).Pieces as Pieces;

async function importPiece(m: TestManager, bytes: number): Promise<{ cid: string; by: string }> {
  const file = join(tempDir('piece'), `piece-${bytes}.bin`);
  writeFileSync(file, randomBytes(bytes));
  const r = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
  assert.equal(r.code, 0, r.stderr);
  const match = /^(\S+) .*commitment by (\w+)\)$/m.exec(r.stdout);
  assert.ok(match, r.stdout);
  return { cid: match[1] as string, by: match[2] as string };
}

describe('real proofs through the sealfleet-proofs sidecar', { skip: unavailable }, () => {
  const proofs = sidecar as Sidecar;
  let m: TestManager;
  let chain: LotusClient;
  let cc: SectorSummary;

  before(async () => {
    const home = tempDir('real');
    mkdirSync(join(home, 'devnet'), { recursive: true });
    writeFileSync(join(home, 'devnet', 'devnet.toml'), '[chain]\nblock_time = "200ms"\npre_commit_challenge_delay = 2\nproof_verifier = "sidecar"\n');
    m = await startTestManager(home);
    chain = new LotusClient({ url: readFileSync(join(home, 'devnet', 'api'), 'utf8').trim() });
  });

  after(async () => {
    await m?.daemon.kill();
  });

  it('computes piece commitments in the sidecar that agree with TypeScript, and imports use it', async () => {
    const client = new SidecarClient(proofs, createLogger('test'));
    const dir = tempDir('real-commp');
    try {
      for (const size of [1, 126, 127, 128, 254, 1000, 1016, 2032, 2033, 4065, 100_000, 130_049, 1_040_384]) {
        const data = randomBytes(size);
        const file = join(dir, `p${size}`);
        writeFileSync(file, data);
        const ours = await pieceCommitment(data);
        const theirs = await client.run('piece_commitment', { piece_file: file });
        assert.deepEqual(theirs, { commitment: Array.from(ours.commP), padded_size: ours.paddedSize, payload_size: size }, `${size} bytes`);
      }
      // A failing request is that request's error; the same child goes on serving the next one.
      await assert.rejects(client.run('piece_commitment', { piece_file: join(dir, 'missing') }), /missing/);
      assert.equal((await client.run('piece_commitment', { piece_file: join(dir, 'p1') })).payload_size, 1);
    } finally {
      await client.close();
    }
    const all = randomBytes(900);
    const file = join(dir, 'import.bin');
    writeFileSync(file, all);
    const r = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${(await pieceCommitment(all)).pieceCid} .*commitment by sidecar\\)$`, 'm'));
  });

  it('seals a deal sector and a CC sector for real to Finished, verified on the devnet', async () => {
    // Queued before the worker starts: the first thread to ask takes it (plus the 900-byte piece from above).
    const deal = await importPiece(m, 1000);
    const dir = tempDir('real-worker');
    const w = await startTestWorker(await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }, { plan: 'sealer' }], processors: SIDECAR_PROCESSORS }));
    try {
      await oneSectorPerThread(w, 2);
      const done = await eventually('two sectors finalized', async () => {
        const rows = await sectors(m, 'finalized');
        return rows.length === 2 ? rows : undefined;
      }, 600_000);
      for (const s of done) {
        const onChain = await chain.stateSectorGetInfo(MINER, s.Number);
        assert.ok(onChain, `${s.Sector} is active on chain`);
        const d = await detail(m, s);
        const pre = d.PreCommit as { CommR: number[]; CommD: number[] };
        assert.equal(onChain.SealedCID['/'], commitmentToCid('sealed', Uint8Array.from(pre.CommR)).toString());
        const pieces = d.Pieces as Pieces;
        const expected = unsealedSectorCommitment(2048, pieces.map((p) => ({ size: p.Piece.Size, commitment: cidToCommitment('unsealed', p.Piece.PieceCID['/']) })));
        assert.deepEqual(pre.CommD, Array.from(expected), `${s.Sector}: CommD is that of its pieces`);
      }
      const counts = await Promise.all(done.map(async (s) => (await piecesOf(m, s)).length));
      const dealSector = done[counts.findIndex((n) => n > 0)];
      const ccSector = done[counts.indexOf(0)];
      assert.ok(dealSector && ccSector, `one deal and one CC sector: ${JSON.stringify(done)}`);
      assert.ok((await piecesOf(m, dealSector)).some((p) => p.Piece.PieceCID['/'] === deal.cid), 'the imported piece is in the deal sector');
      cc = ccSector;
    } finally {
      await w.daemon.kill();
    }
  });

  it('snaps deal data into the CC sector for real, the update verified on the devnet', async () => {
    assert.ok(cc, 'needs the CC sector of the previous test');
    const before = await chain.stateSectorGetInfo(MINER, cc.Number);
    const piece = await importPiece(m, 1500);
    const dir = tempDir('real-snap');
    const w = await startTestWorker(await writeWorkerConfig(dir, m, { threads: [{ plan: 'snapup' }], processors: SIDECAR_PROCESSORS }));
    try {
      await oneSectorPerThread(w, 1);
      await eventually('snap-up finalized', async () => (await sectors(m, 'finalized')).find((s) => s.Plan === 'snapup'), 300_000);
      const after = await chain.stateSectorGetInfo(MINER, cc.Number);
      assert.ok(after?.SectorKeyCID, 'the chain has the replica update');
      assert.equal(after.SectorKeyCID['/'], before?.SealedCID['/'], 'the old replica became the sector key');
      assert.notEqual(after.SealedCID['/'], before?.SealedCID['/']);
      assert.ok((await piecesOf(m, cc)).some((p) => p.Piece.PieceCID['/'] === piece.cid), 'the snapped piece is recorded with the sector');
    } finally {
      await w.daemon.kill();
    }
  });

  it('rejects a tampered proof on chain with the actor\'s exit code, and the worker sees it', async () => {
    const verifier = sidecarVerifier(new SidecarClient(proofs, createLogger('test')), createLogger('test'));
    try {
      const garbage = await verifier.verifySeal(randomBytes(192), {
        miner: 1000, number: 1, sealProof: 5, commR: randomBytes(32), commD: randomBytes(32), ticket: randomBytes(32), seed: randomBytes(32),
      });
      assert.equal(garbage, false, 'bytes that are not a proof do not verify');
    } finally {
      await verifier.close();
    }

    const dir = tempDir('real-tamper');
    const env = Object.entries(sidecarEnv(proofs)).map(([k, v]) => `${k} = "${v}"`).join('\n');
    const tamper = `${SIDECAR_PROCESSORS}
[[processors.c2]]
bin = "${process.execPath}"
args = ["--import", "${import.meta.resolve('tsx')}", "${TAMPERING_C2}", "${proofs.bin}"]
stable_wait = "30s"
[processors.c2.envs]
${env}
`;
    const cfg = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], processors: tamper });
    const w = await startTestWorker(cfg);
    try {
      await oneSectorPerThread(w, 1);
      const [thread] = await eventually('the thread paused on the failed ProveCommit', async () => {
        const list = await w.list();
        return list[0]?.thread_state.state === 'Paused' ? list : undefined;
      }, 300_000);
      assert.ok(thread);
      assert.equal(thread.job_state, 'ProofSubmitted');
      assert.match(thread.last_error ?? '', new RegExp(`exit code ${ExitCode.ErrIllegalArgument}\\b`));
      const s = (await sectors(m)).find((r) => r.Sector === thread.job_id);
      assert.ok(s, `the manager knows ${thread.job_id}`);
      assert.equal(await chain.stateSectorGetInfo(MINER, s.Number), null, 'the sector never became active');
      const d = await detail(m, s);
      assert.ok(d.ProveMessage);
      const found = await chain.stateSearchMsg({ '/': d.ProveMessage });
      assert.equal(found?.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
      const cli = await runCli(WORKER_BIN, ['worker', '-c', cfg, 'list']);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /Paused/);
    } finally {
      await w.daemon.kill();
    }
  });
});
