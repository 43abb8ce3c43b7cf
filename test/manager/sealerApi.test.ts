import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LotusClient } from '../../src/chain/client.js';
import { cidToCommitment, commitmentToCid, unsealedSectorCommitment } from '../../src/core/commitment.js';
import { mockUpdateProof } from '../../src/core/mockProof.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { SECTOR_STATE_NOT_FOUND, SubmitResult, type AllocatedSector, type SectorPieceV2, type SubmitResp } from '../../src/core/wire/sealer.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

interface SectorState {
  Status: string;
  State: string | null;
  Pieces: unknown[];
  UpgradeMessage: string | null;
  AbortReason: string | null;
}

describe('manager sealer API (real daemon, in-process devnet, real HTTP)', () => {
  let m: TestManager;
  let chain: LotusClient;
  let store: string;

  before(async () => {
    m = await startTestManager(tempDir('manager'));
    chain = new LotusClient({ url: readFileSync(join(m.home, 'devnet', 'api'), 'utf8').trim() });
    store = join(m.home, 'persist');
  });
  after(() => m.daemon.kill());

  const allocate = async (): Promise<FakeSealer> => {
    const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
    return new FakeSealer(m, s);
  };
  const state = (s: FakeSealer) => m.call<SectorState>('SealFleet.SectorState', [s.id]);
  const importPiece = async (bytes: Buffer): Promise<string> => {
    const file = join(tempDir('payload'), 'payload.bin');
    writeFileSync(file, bytes);
    const res = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
    assert.equal(res.code, 0, res.stderr);
    return res.stdout.split(/\s+/)[0] as string;
  };

  it('seals a CC sector through every call, onto the devnet chain', async () => {
    const s = await allocate();
    assert.deepEqual(s.sector, { ID: { Miner: 1000, Number: s.id.Number }, ProofType: 5 });
    await s.sealAll(store);
    const info = await chain.stateSectorGetInfo('t01000', s.id.Number);
    assert.ok(info, 'sector active on chain');
    assert.equal(info.SealedCID['/'], commitmentToCid('sealed', Uint8Array.from(s.commR)).toString());
    const st = await state(s);
    assert.equal(st.Status, 'finalized');
    assert.equal(st.State, 'Finished');
    // Retried after success: no error.
    assert.equal(await m.call('Venus.ReportFinalized', [s.id]), null);
  });

  it('applies the re-submission rules and the pre-checks', async () => {
    const s = await allocate();
    await s.prepare();
    assert.equal((await s.submitPreCommit()).Res, SubmitResult.Accepted);
    assert.equal((await s.submitPreCommit()).Res, SubmitResult.Accepted, 'identical data again is accepted');
    const other = { ...s.preCommitInfo(), CommR: Array(32).fill(9) };
    assert.equal((await m.call<SubmitResp>('Venus.SubmitPreCommit', [s.sector, other, false])).Res, SubmitResult.MismatchedSubmission);
    await s.waitLanded('Venus.PollPreCommitState');
    // Re-submitting with reset once the pre-commit is on chain must not send a second message.
    assert.equal((await s.submitPreCommit(true)).Res, SubmitResult.Accepted);
    assert.equal((await m.call<{ PreCommitMessage: string | null }>('SealFleet.SectorState', [s.id])).PreCommitMessage, null);
    await s.waitLanded('Venus.PollPreCommitState');
    s.persistFiles(store);
    assert.equal(await m.call('Venus.SubmitPersistedEx', [s.id, 'local', true]), false, 'no update files in the store');
    await assert.rejects(m.call('Venus.SubmitPersistedEx', [s.id, 'nowhere', false]), /persist store "nowhere" is not configured/);
    assert.equal(await m.call('Venus.SubmitPersistedEx', [s.id, 'local', false]), true);
    const seed = await s.seed();
    const proof = s.proof(seed);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitProof', [s.id, { Proof: proof }, false])).Res, SubmitResult.Accepted);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitProof', [s.id, { Proof: proof }, false])).Res, SubmitResult.Accepted);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitProof', [s.id, { Proof: Buffer.from('other').toString('base64') }, false])).Res, SubmitResult.MismatchedSubmission);
    await s.waitLanded('Venus.PollProofState');

    const t = await allocate();
    await t.prepare();
    const badTicket = { ...t.preCommitInfo(), Ticket: { Ticket: Buffer.alloc(32).toString('base64'), Epoch: 1 } };
    assert.equal((await m.call<SubmitResp>('Venus.SubmitPreCommit', [t.sector, badTicket, false])).Res, SubmitResult.Rejected);
  });

  it('refuses bad params and unknown sectors with JSON-RPC errors, and keeps serving', async () => {
    await assert.rejects(m.call('Venus.AssignTicket', [{ Miner: 1000, Number: 999_999 }]), (e: RpcError) => e.code === SECTOR_STATE_NOT_FOUND);
    await assert.rejects(m.call('Venus.AssignTicket', [{ Miner: 'x', Number: 1 }]), (e: RpcError) => e.code === RPC_CODES.InvalidParams);
    await assert.rejects(m.call('Venus.AssignTicket', []), (e: RpcError) => e.code === RPC_CODES.InvalidParams && /wrong param count/.test(e.message));
    await assert.rejects(m.call('Venus.SubmitPreCommit', [{ ID: { Miner: 1000, Number: 1 }, ProofType: 5 }, { CommR: [1, 2], CommD: [], Ticket: null }, false]), (e: RpcError) => e.code === RPC_CODES.InvalidParams);
    await assert.rejects(m.call('Venus.WorkerPing', [{ Name: '', Dest: 'x', Version: 'v', Summary: { Threads: 0, Empty: 0, Paused: 0, Running: 0, Waiting: 0, Errors: 0 } }]), /worker name is required/);
    await assert.rejects(m.call('Venus.Nope', []), (e: RpcError) => e.code === RPC_CODES.MethodNotFound);
    assert.equal(await m.call('Venus.StoreBasicInfo', ['nowhere']), null);
    assert.deepEqual(await m.call('Venus.StoreBasicInfo', ['local']), { Name: 'local', Path: store, Strict: false, ReadOnly: false, Weight: 1, Meta: {} });
  });

  it('hands deal pieces to one sector, serves their bytes, and takes them back on abort', async () => {
    const payload = randomBytes(1000);
    const cid = await importPiece(payload);
    assert.match(cid, /^baga6ea4sea/);
    const s = await allocate();
    await s.prepare();
    assert.equal(s.pieces.length, 1);
    assert.equal(s.pieces[0]?.Piece.PieceCID['/'], cid);
    assert.equal(s.pieces[0]?.Piece.Size, 1024);
    assert.equal(s.pieces[0]?.DealInfo.PayloadSize, 1000);
    const again = await m.call<SectorPieceV2[]>('Venus.AcquireDeals', [s.id, { MaxDeals: null, MinUsedSpace: null }]);
    assert.deepEqual(again, s.pieces, 'AcquireDeals is repeatable');
    const other = await allocate();
    assert.equal(await m.call('Venus.AcquireDeals', [other.id, { MaxDeals: null, MinUsedSpace: null }]), null, 'a piece is never in two sectors');

    const token = readFileSync(join(m.home, 'token'), 'utf8').trim();
    const served = await fetch(`${m.url}/piecestore/${cid}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(served.status, 200);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), payload);
    assert.equal((await fetch(`${m.url}/piecestore/${cid}`)).status, 401);
    assert.equal((await fetch(`${m.url}/piecestore/not-a-cid`, { headers: { authorization: `Bearer ${token}` } })).status, 400);

    const abort = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'abort', `s-t01000-${s.id.Number}`, '--reason', 'operator test', '--home', m.home]);
    assert.equal(abort.code, 0, abort.stderr);
    const told = await s.report('TicketAssigned', 'PC1Done', 'PC1');
    assert.deepEqual(told, { Id: s.id, Finalized: true, AbortReason: 'operator test' });
    assert.equal(await m.call('Venus.ReportAborted', [s.id, 'operator test']), null, 'ReportAborted after the abort is fine');
    assert.equal((await state(s)).Status, 'aborted');
    const third = await allocate();
    const back = await m.call<SectorPieceV2[]>('Venus.AcquireDeals', [third.id, { MaxDeals: null, MinUsedSpace: null }]);
    assert.equal(back?.[0]?.Piece.PieceCID['/'], cid, 'the aborted sector gave its piece back');
  });

  it('seals a sector holding deal data onto the chain', async () => {
    const cid = await importPiece(randomBytes(900));
    const s = await allocate();
    await s.sealAll(store);
    assert.deepEqual(s.pieces.map((p) => p.Piece.PieceCID['/']), [cid]);
    const info = await chain.stateSectorGetInfo('t01000', s.id.Number);
    assert.ok(info && BigInt(info.DealWeight) > 0n, 'the chain activated the piece');
    const pieces = await m.call<{ PieceCID: string; Status: string }[]>('SealFleet.PiecesList');
    assert.equal(pieces.find((p) => p.PieceCID === cid)?.Status, 'sealed');
  });

  it('snaps a CC sector and queues a rebuild', async () => {
    const cc = await allocate();
    // MaxDeals 0 keeps a sector CC even with pieces queued; MinUsedSpace above the sector size does too. No
    // pieces is not final before the pre-commit (a worker may wait for deals), so the sector asks with MaxDeals 0.
    await importPiece(randomBytes(500));
    assert.equal(await m.call('Venus.AcquireDeals', [cc.id, { MaxDeals: 0, MinUsedSpace: null }]), null);
    assert.equal(await m.call('Venus.AcquireDeals', [cc.id, { MaxDeals: null, MinUsedSpace: 4096 }]), null);
    await cc.sealAll(store, { MaxDeals: 0, MinUsedSpace: null });
    assert.deepEqual((await state(cc)).Pieces, []);

    const snapPiece = await importPiece(randomBytes(2000));
    const snap = await m.call<{ Sector: AllocatedSector; Pieces: SectorPieceV2[]; Public: { CommR: number[] }; Private: { AccessInstance: string } }>('Venus.AllocateSanpUpSector', [{ Sector: { AllowedMiners: null, AllowedProofTypes: null }, Deals: { MaxDeals: null, MinUsedSpace: null } }]);
    assert.ok(snap, 'a CC sector was found for the queued piece');
    const pieces = snap.Pieces.map((p) => p.Piece.PieceCID['/']);
    assert.ok(pieces.includes(snapPiece) || pieces.length > 0);
    const newCommD = unsealedSectorCommitment(2048, snap.Pieces.map((p) => ({ size: p.Piece.Size, commitment: cidToCommitment('unsealed', p.Piece.PieceCID['/']) })));
    const newCommR = randomBytes(32);
    newCommR[31] = (newCommR[31] as number) & 0x3f;
    const proof = mockUpdateProof({ miner: 1000, number: snap.Sector.ID.Number, updateProof: 0, oldCommR: Uint8Array.from(snap.Public.CommR), newCommR, newCommD });
    const upgrade = { CommR: Array.from(newCommR), CommD: Array.from(newCommD), AccessInstance: 'local', Pieces: snap.Pieces.map((p) => p.Piece.PieceCID), Proof: Buffer.from(proof).toString('base64') };
    const fake = new FakeSealer(m, snap.Sector);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitSnapUpProof', [snap.Sector.ID, upgrade])).Res, SubmitResult.FilesMissed);
    fake.persistFiles(store, true);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitSnapUpProof', [snap.Sector.ID, upgrade])).Res, SubmitResult.Accepted);
    assert.equal((await m.call<SubmitResp>('Venus.SubmitSnapUpProof', [snap.Sector.ID, { ...upgrade, Proof: 'AAAA' }])).Res, SubmitResult.MismatchedSubmission);
    await eventually('upgrade landed', async () => ((await state(fake)).Status === 'finalized' ? true : undefined));
    const onChain = await chain.stateSectorGetInfo('t01000', snap.Sector.ID.Number);
    assert.equal(onChain?.SealedCID['/'], commitmentToCid('sealed', newCommR).toString());
    assert.ok(onChain?.SectorKeyCID);

    const rebuild = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'rebuild', `s-t01000-${cc.id.Number}`, '--home', m.home]);
    assert.equal(rebuild.code, 0, rebuild.stderr);
    const info = await m.call<{ Sector: AllocatedSector; Ticket: { Epoch: number }; IsSnapUp: boolean }>('Venus.AllocateRebuildSector', [{ AllowedMiners: [1000], AllowedProofTypes: null }]);
    assert.ok(info);
    assert.deepEqual(info.Sector.ID, cc.id);
    assert.equal(info.Ticket.Epoch, cc.ticket?.Epoch);
    assert.equal(await m.call('Venus.AllocateRebuildSector', [{ AllowedMiners: [1000], AllowedProofTypes: null }]), null, 'popped once');
  });

  it('answers concurrent ReportStates sharing a commit each on its own: logged in order, unknown sectors refused', async () => {
    const sectors = await Promise.all(Array.from({ length: 6 }, allocate));
    const finished = sectors[5] as FakeSealer;
    await finished.sealAll(store);
    const chainOf = ['Allocated', 'DealsAcquired', 'PiecesAdded', 'TreeDBuilt', 'TicketAssigned', 'PC1Done'];
    // Each sector's reports are sequential, as a sealing thread's are; the sectors run side by side, with a
    // report for a sector nobody allocated among them.
    const results = await Promise.allSettled([
      ...sectors.slice(0, 5).map(async (s) => {
        for (const [i, next] of chainOf.entries()) await s.report(i === 0 ? 'Empty' : (chainOf[i - 1] as string), next, `step${i}`);
      }),
      finished.report('Finished', 'Finished', 'late'),
      m.call('Venus.ReportState', [{ Miner: 1000, Number: 999_999 }, { Worker: { Instance: 'w', Location: '/x' }, StateChange: { Prev: 'A', Next: 'B', Event: 'E' }, Failure: null }]),
    ]);
    assert.deepEqual(results.slice(0, 5).map((r) => r.status), Array(5).fill('fulfilled'));
    assert.deepEqual((results[5] as PromiseFulfilledResult<unknown>).value, { Id: finished.id, Finalized: true, AbortReason: null }, 'a finished sector is told it is done');
    const unknown = results[6] as PromiseRejectedResult;
    assert.ok(unknown.reason instanceof RpcError && unknown.reason.code === SECTOR_STATE_NOT_FOUND, String(unknown.reason));
    for (const s of sectors.slice(0, 5)) {
      const log = await m.call<{ Worker: string; Next: string; Event: string }[]>('SealFleet.SectorLog', [s.id]);
      assert.deepEqual(log.filter((e) => e.Worker !== 'manager').map((e) => e.Next), chainOf, 'the worker\'s reports, among the manager\'s own transitions');
      assert.equal((await state(s)).State, 'PC1Done');
    }
    const finishedLog = await m.call<{ Event: string }[]>('SealFleet.SectorLog', [finished.id]);
    assert.equal(finishedLog.at(-1)?.Event, 'late', 'logged, though the sector is no longer sealing');
    assert.equal((await state(finished)).State, 'Finished');
  });

  it('logs a move its worker sends again once, even after a failure report in between', async () => {
    const s = await allocate();
    await s.report('Empty', 'Allocated', 'Allocate');
    await s.report('Allocated', 'DealsAcquired', 'AcquireDeals');
    await s.report('DealsAcquired', 'DealsAcquired', 'Failure', { Level: 'Temporary', Desc: 'disk full' });
    // A restarted worker repeats its last move: the manager already has it.
    await s.report('Allocated', 'DealsAcquired', 'AcquireDeals');
    await s.report('Allocated', 'DealsAcquired', 'AcquireDeals');
    // Another worker's move, and another event between the same states, are moves of their own.
    await m.call('Venus.ReportState', [s.id, { Worker: { Instance: 'other-worker', Location: '/x' }, StateChange: { Prev: 'Allocated', Next: 'DealsAcquired', Event: 'AcquireDeals' }, Failure: null }]);
    await s.report('Allocated', 'DealsAcquired', 'SetState');
    const log = await m.call<{ Worker: string; Prev: string; Next: string; Event: string }[]>('SealFleet.SectorLog', [s.id]);
    assert.deepEqual(
      log.filter((e) => e.Worker !== 'manager').map((e) => `${e.Worker} ${e.Prev}-${e.Event}->${e.Next}`),
      ['test-worker Empty-Allocate->Allocated', 'test-worker Allocated-AcquireDeals->DealsAcquired', 'test-worker DealsAcquired-Failure->DealsAcquired', 'other-worker Allocated-AcquireDeals->DealsAcquired', 'test-worker Allocated-SetState->DealsAcquired'],
    );
    assert.equal((await state(s)).State, 'DealsAcquired');
  });

  it('gives 50 concurrent allocations 50 different numbers', async () => {
    const all = await Promise.all(Array.from({ length: 50 }, () => m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: [1000], AllowedProofTypes: [5] }])));
    const numbers = all.map((a) => a.ID.Number);
    assert.equal(new Set(numbers).size, 50);
    assert.equal(await m.call('Venus.AllocateSector', [{ AllowedMiners: [2000], AllowedProofTypes: null }]), null, 'no such miner');
    assert.equal(await m.call('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: [8] }]), null, 'no 32GiB miner');
  });
});
