import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../../src/core/rpc/client.js';
import { SECTOR_STATE_NOT_FOUND, SubmitResult, type AllocatedSector, type SectorPieceV2, type SubmitResp } from '../../src/core/wire/sealer.js';
import type { SectorDetail, SectorEvent } from '../../src/manager/api/admin.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];
const DEALS = { MaxDeals: null, MinUsedSpace: null };

describe('sector transition guards (real daemon, write token)', () => {
  let m: TestManager;
  let writer: RpcClient;
  let store: string;

  before(async () => {
    m = await startTestManager(tempDir('guards'));
    store = join(m.home, 'persist');
    const token = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'write', '--home', m.home]);
    assert.equal(token.code, 0, token.stderr);
    writer = new RpcClient({ url: `${m.url}/rpc/v0`, token: token.stdout.trim(), timeoutMs: 20_000 });
  });
  after(() => m.daemon.kill());

  const importPiece = async (): Promise<string> => {
    const file = join(tempDir('guard-piece'), 'p.bin');
    writeFileSync(file, randomBytes(600));
    const r = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split(/\s+/)[0] as string;
  };
  const detail = (id: AllocatedSector['ID']) => m.call<SectorDetail>('SealFleet.SectorState', [id]);
  const pieceStatus = async (cid: string) => (await m.call<{ PieceCID: string; Status: string }[]>('SealFleet.PiecesList')).find((p) => p.PieceCID === cid)?.Status;
  const sealedSector = async (): Promise<FakeSealer> => {
    const s = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
    // CC whatever is queued: a snap-up candidate. (A CC answer is not final before the pre-commit, so every
    // AcquireDeals of the sector asks for none.)
    await s.sealAll(store, { MaxDeals: 0, MinUsedSpace: null });
    return s;
  };

  it('refuses ReportFinalized before the proof landed: the pieces stay assigned, the sector sealing', async () => {
    const cid = await importPiece();
    const sector = await writer.call<AllocatedSector>('Venus.AllocateSector', SPEC);
    const pieces = await writer.call<SectorPieceV2[] | null>('Venus.AcquireDeals', [sector.ID, DEALS]);
    assert.deepEqual(pieces?.map((p) => p.Piece.PieceCID['/']), [cid]);
    await assert.rejects(writer.call('Venus.ReportFinalized', [sector.ID]), /ReportFinalized refused: sector s-t01000-\d+ is still sealing: no proof was submitted/);
    const d = await detail(sector.ID);
    assert.equal(d.Status, 'sealing');
    assert.equal(await pieceStatus(cid), 'assigned');
    // The sector goes on to a real finalize, and only that seals its pieces.
    const s = new FakeSealer(m, sector);
    s.pieces = pieces ?? [];
    await s.report('Empty', 'Allocated', 'Allocate');
    s.ticket = await writer.call('Venus.AssignTicket', [sector.ID]);
    assert.equal((await s.submitPreCommit()).Res, SubmitResult.Accepted);
    await s.waitLanded('Venus.PollPreCommitState');
    await assert.rejects(writer.call('Venus.ReportFinalized', [sector.ID]), /no proof was submitted/);
    s.persistFiles(store);
    assert.equal(await writer.call('Venus.SubmitPersistedEx', [sector.ID, 'local', false]), true);
    const seed = await s.seed();
    assert.equal((await writer.call<SubmitResp>('Venus.SubmitProof', [sector.ID, { Proof: s.proof(seed) }, false])).Res, SubmitResult.Accepted);
    await s.waitLanded('Venus.PollProofState');
    assert.equal(await writer.call('Venus.ReportFinalized', [sector.ID]), null);
    assert.equal((await detail(sector.ID)).Status, 'finalized');
    assert.equal(await pieceStatus(cid), 'sealed');
  });

  it('gives no pieces to a sector pre-committed as CC, and checks a CC pre-commit\'s CommD', async () => {
    const s = new FakeSealer(m, await writer.call<AllocatedSector>('Venus.AllocateSector', SPEC));
    s.ticket = await writer.call('Venus.AssignTicket', [s.id]);
    const bad = await writer.call<SubmitResp>('Venus.SubmitPreCommit', [s.sector, { ...s.preCommitInfo(), CommD: Array.from({ length: 32 }, () => 7) }, false]);
    assert.equal(bad.Res, SubmitResult.MismatchedSubmission);
    assert.match(bad.Desc ?? '', /does not match the CC sector/);
    assert.equal((await s.submitPreCommit()).Res, SubmitResult.Accepted);
    const cid = await importPiece();
    assert.equal(await writer.call('Venus.AcquireDeals', [s.id, DEALS]), null);
    assert.equal(await pieceStatus(cid), 'queued');
  });

  it('refuses SubmitPersisted on a finished sector and sealer calls on a snap-up; ReportFinalized never finalizes a snap-up', async () => {
    const done = await sealedSector();
    await assert.rejects(writer.call('Venus.SubmitPersistedEx', [done.id, 'local', false]), new RegExp(`error code ${SECTOR_STATE_NOT_FOUND}: sector s-t01000-${done.id.Number} is finalized`));
    await importPiece();
    const snap = await writer.call<{ Sector: AllocatedSector }>('Venus.AllocateSanpUpSector', [{ Sector: { AllowedMiners: null, AllowedProofTypes: null }, Deals: DEALS }]);
    const id = snap.Sector.ID;
    await assert.rejects(writer.call('Venus.SubmitProof', [id, { Proof: 'AAAA' }, true]), /SubmitProof refused: sector s-t01000-\d+ is being handled by the snapup plan/);
    await assert.rejects(writer.call('Venus.AssignTicket', [id]), /AssignTicket refused: .* snapup plan/);
    assert.equal(await writer.call('Venus.ReportFinalized', [id]), null);
    assert.equal((await detail(id)).Status, 'sealing');
  });

  it('takes ReportAborted of a snap-up the manager already ended as done, once; a finalized sealer sector stays unabortable', async () => {
    await sealedSector();
    await importPiece();
    const snap = await writer.call<{ Sector: AllocatedSector }>('Venus.AllocateSanpUpSector', [{ Sector: { AllowedMiners: null, AllowedProofTypes: null }, Deals: DEALS }]);
    const id = snap.Sector.ID;
    await m.call('SealFleet.SectorAbort', [id, 'operator says no']);
    const answer = await writer.call<{ Finalized: boolean }>('Venus.ReportState', [id, { Worker: { Instance: 'w', Location: '/l' }, StateChange: { Prev: 'Allocated', Next: 'PieceAdded', Event: 'AddPiece' }, Failure: null }]);
    assert.equal(answer.Finalized, true);
    assert.equal((await detail(id)).Status, 'finalized');
    for (let i = 0; i < 3; i++) assert.equal(await writer.call('Venus.ReportAborted', [id, 'operator says no']), null);
    const aborted = (await m.call<SectorEvent[]>('SealFleet.SectorLog', [id])).filter((e) => e.Event === 'Aborted');
    assert.equal(aborted.length, 1);
    const sealer = await sealedSector();
    await assert.rejects(writer.call('Venus.ReportAborted', [sealer.id, 'late']), /is finalized and cannot be aborted/);
  });
});
