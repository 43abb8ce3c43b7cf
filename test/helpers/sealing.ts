import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cidToCommitment, unsealedSectorCommitment, zeroCommitment } from '../../src/core/commitment.js';
import { mockSealProof } from '../../src/core/mockProof.js';
import { formatSectorId } from '../../src/core/sectorId.js';
import { OnChainState, SubmitResult, type AllocatedSector, type PollStateResp, type SectorPieceV2, type SubmitResp, type Ticket, type WaitSeedResp } from '../../src/core/wire/sealer.js';
import { eventually, type TestManager } from './manager.js';

const WORKER = { Instance: 'test-worker', Location: '/tmp/test-location' };

/** Plays a worker's sealer plan against the manager over RPC, with mock outputs in place of real steps. */
export class FakeSealer {
  ticket?: Ticket;
  pieces: SectorPieceV2[] = [];
  commR: number[];

  constructor(
    private readonly m: TestManager,
    readonly sector: AllocatedSector,
  ) {
    this.commR = Array.from({ length: 32 }, (_, i) => (sector.ID.Number * 7 + i) % 256);
  }

  get id() {
    return this.sector.ID;
  }

  report(prev: string, next: string, event: string, failure: { Level: string; Desc: string } | null = null) {
    return this.m.call<{ Finalized: boolean; AbortReason: string | null }>('Venus.ReportState', [this.id, { Worker: WORKER, StateChange: { Prev: prev, Next: next, Event: event }, Failure: failure }]);
  }

  commD(): number[] {
    const comm = this.pieces.length === 0
      ? zeroCommitment(2048)
      : unsealedSectorCommitment(2048, this.pieces.map((p) => ({ size: p.Piece.Size, commitment: cidToCommitment('unsealed', p.Piece.PieceCID['/']) })));
    return Array.from(comm);
  }

  async prepare(deals: { MaxDeals: number | null; MinUsedSpace: number | null } = { MaxDeals: null, MinUsedSpace: null }): Promise<void> {
    await this.report('Empty', 'Allocated', 'Allocate');
    this.pieces = (await this.m.call<SectorPieceV2[] | null>('Venus.AcquireDeals', [this.id, deals])) ?? [];
    await this.report('Allocated', 'DealsAcquired', 'AcquireDeals');
    this.ticket = await this.m.call<Ticket>('Venus.AssignTicket', [this.id]);
    await this.report('TreeDBuilt', 'TicketAssigned', 'AssignTicket');
  }

  preCommitInfo() {
    return { CommR: this.commR, CommD: this.commD(), Ticket: this.ticket };
  }

  submitPreCommit(reset = false) {
    return this.m.call<SubmitResp>('Venus.SubmitPreCommit', [this.sector, this.preCommitInfo(), reset]);
  }

  waitLanded(method: 'Venus.PollPreCommitState' | 'Venus.PollProofState'): Promise<PollStateResp> {
    return eventually(`${method} Landed for ${formatSectorId({ miner: this.id.Miner, number: this.id.Number })}`, async () => {
      const s = await this.m.call<PollStateResp>(method, [this.id]);
      if (s.State === OnChainState.Landed) return s;
      assert.ok([OnChainState.Pending, OnChainState.Packed].includes(s.State as 1 | 2), `unexpected state ${JSON.stringify(s)}`);
      return undefined;
    });
  }

  /** Writes the files a persisted sector has into the store at `storePath`. */
  persistFiles(storePath: string, upgrade = false): void {
    const name = formatSectorId({ miner: this.id.Miner, number: this.id.Number });
    mkdirSync(join(storePath, upgrade ? 'update' : 'sealed'), { recursive: true });
    writeFileSync(join(storePath, upgrade ? 'update' : 'sealed', name), 'sealed');
    const cache = join(storePath, upgrade ? 'update-cache' : 'cache', name);
    mkdirSync(cache, { recursive: true });
    for (const f of ['p_aux', 't_aux', 'sc-02-data-tree-r-last.dat']) writeFileSync(join(cache, f), f);
  }

  async seed(): Promise<{ Seed: string; Epoch: number }> {
    return eventually('seed', async () => {
      const r = await this.m.call<WaitSeedResp>('Venus.WaitSeed', [this.id, this.sector.ProofType]);
      return r.ShouldWait ? undefined : (r.Seed ?? undefined);
    });
  }

  proof(seed: { Seed: string }): string {
    const p = mockSealProof({
      miner: this.id.Miner,
      number: this.id.Number,
      sealProof: this.sector.ProofType,
      commR: Uint8Array.from(this.commR),
      commD: Uint8Array.from(this.commD()),
      ticket: new Uint8Array(Buffer.from(this.ticket?.Ticket ?? '', 'base64')),
      seed: new Uint8Array(Buffer.from(seed.Seed, 'base64')),
    });
    return Buffer.from(p).toString('base64');
  }

  /** The whole sealer plan up to Finished. */
  async sealAll(storePath: string, deals?: { MaxDeals: number | null; MinUsedSpace: number | null }): Promise<void> {
    await this.prepare(deals);
    assert.equal((await this.submitPreCommit()).Res, SubmitResult.Accepted);
    await this.waitLanded('Venus.PollPreCommitState');
    this.persistFiles(storePath);
    assert.equal(await this.m.call('Venus.SubmitPersistedEx', [this.id, 'local', false]), true);
    const seed = await this.seed();
    assert.equal((await this.m.call<SubmitResp>('Venus.SubmitProof', [this.id, { Proof: this.proof(seed) }, false])).Res, SubmitResult.Accepted);
    await this.waitLanded('Venus.PollProofState');
    await this.report('ProofSubmitted', 'Finished', 'Finish');
    await this.m.call('Venus.ReportFinalized', [this.id]);
  }
}
