import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { Logger } from '../../core/log.js';
import { formatDuration } from '../../core/units.js';
import { cidToCommitment, commitmentToCid, unsealedSectorCommitment } from '../../core/commitment.js';
import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { callerMethod, method, type MethodDef } from '../../core/rpc/server.js';
import {
  AcquireDealsSpec,
  AllocateSectorSpec,
  AllocateSnapUpSpec,
  AllocatedSector,
  OnChainState,
  PreCommitOnChainInfo,
  ProofOnChainInfo,
  ReportStateReq,
  SectorID,
  SnapUpOnChainInfo,
  SubmitResult,
  TICKET_EXPIRED,
  WorkerInfo,
  arrayToBytes,
  bytesToArray,
  type AllocatedSnapUpSector,
  type PollStateResp,
  type SectorPieceV2,
  type SectorRebuildInfo,
  type SectorStateResp,
  type SubmitResp,
  type Ticket,
  type WaitSeedResp,
} from '../../core/wire/sealer.js';
import { boundedArray, nameString, textString } from '../../core/wire/bounds.js';
import { DomainSeparationTag } from '../../chain/randomness.js';
import type { LotusClient } from '../../chain/client.js';
import type { ManagerConfig } from '../config.js';
import { sealerExpiration, type Committer } from '../commitment/committer.js';
import type { MinerFacts, Miners } from '../commitment/miners.js';
import { retryWhenPiecesTaken, type PieceQueue } from '../deals/pieces.js';
import type { SectorNumbering } from '../sectors/numbering.js';
import type { UpgradeRecord } from '../sectors/columns.js';
import { TransitionRefused, type SectorPlan, type TransitionName } from '../sectors/lifecycle.js';
import { MANAGER_EVENT_SOURCE, ORPHAN_REASON, sectorKey, type SectorRecord, type SectorStore } from '../sectors/store.js';
import type { PersistStores } from '../stores.js';
import type { WorkerRegistry } from '../workers/registry.js';

export interface SealerDeps {
  config: ManagerConfig;
  lotus: LotusClient;
  miners: Miners;
  records: SectorStore;
  numbering: SectorNumbering;
  pieces: PieceQueue;
  stores: PersistStores;
  workers: WorkerRegistry;
  committer: Committer;
  log: Logger;
  /** Told of each state change or failure a worker reports, with the sector's plan (metrics). */
  onReport?: (id: SectorID, plan: SectorPlan, req: z.infer<typeof ReportStateReq>) => void;
}

const ok = (desc: string | null = null): SubmitResp => ({ Res: SubmitResult.Accepted, Desc: desc });
const refuse = (res: number, desc: string): SubmitResp => ({ Res: res, Desc: desc });
const idOf = (row: Pick<SectorRecord, 'miner' | 'number'>): SectorID => ({ Miner: Number(row.miner), Number: Number(row.number) });
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
/** The manager's own outcomes of a snap-up or rebuild attempt, as its event rows name them. */
const ATTEMPT_OUTCOMES: readonly TransitionName[] = ['Aborted', 'Finalized', 'UpgradeLanded', 'SnapUpAllocated', 'RebuildAllocated'];
/** How many chain-allocated numbers one AllocateSector skips before it gives up (see unallocatedNumber). */
const MAX_CHAIN_ALLOCATED_SKIPS = 32;

/**
 * The sealer API workers call (`Venus.*`), with damocles' semantics: what each call stores, which calls
 * are safe to repeat, and which answers make the worker wait, retry, pause or abort. It checks the calls
 * and asks the chain; every change of a sector record is a transition of the sector store.
 */
export class SealerService {
  private readonly startedAt = Date.now();

  constructor(private readonly d: SealerDeps) {}

  private candidates(spec: z.infer<typeof AllocateSectorSpec>, gate: (m: MinerFacts) => boolean): MinerFacts[] {
    return this.d.miners.all().filter(
      (m) =>
        gate(m) &&
        (!spec.AllowedMiners?.length || spec.AllowedMiners.includes(m.config.id)) &&
        (!spec.AllowedProofTypes?.length || spec.AllowedProofTypes.includes(m.sealProof.id)),
    );
  }

  /**
   * The record of a sector a worker seals from scratch (the sealer plan): the calls that build a new sector
   * (deals, ticket, pre-commit, seed, proof) have no business with a snap-up or a rebuild, whose sector is on
   * chain already: a pre-commit or proof sent for it would be a second one.
   */
  private async requireSealer(id: SectorID, call: string): Promise<SectorRecord> {
    const row = await this.d.records.requireSealing(id);
    if (row.plan !== 'sealer') {
      throw new RpcError(RPC_CODES.Application, `${call} refused: sector ${sectorKey(id)} is being handled by the ${row.plan} plan, which does not seal it anew`);
    }
    return row;
  }

  async allocateSector(spec: z.infer<typeof AllocateSectorSpec>): Promise<z.infer<typeof AllocatedSector> | null> {
    const pool = this.candidates(spec, (m) => m.config.sector.enabled);
    while (pool.length > 0) {
      const miner = pool.splice(Math.floor(Math.random() * pool.length), 1)[0] as MinerFacts;
      const number = await this.allocateNumber(miner);
      if (number === null) continue;
      this.d.log.info({ sector: sectorKey({ Miner: miner.config.id, Number: number }) }, 'sector allocated');
      return { ID: { Miner: miner.config.id, Number: number }, ProofType: miner.sealProof.id };
    }
    return null;
  }

  /**
   * Records a new sector of the miner under its next number the chain has not allocated, or returns null
   * at its max_number. The number is drawn and its sector recorded in one transaction, and the chain is
   * asked afterwards, so no transaction waits on the chain. A number the chain already has is spent: its
   * sector is aborted at once, saying why, and the next one is tried within this one call (a worker must not
   * pay one failed call per number), up to a bound: a run of that many means this database is behind the
   * chain, which only the operator can fix.
   */
  private async allocateNumber(miner: MinerFacts): Promise<number | null> {
    const skipped: number[] = [];
    while (skipped.length < MAX_CHAIN_ALLOCATED_SKIPS) {
      const number = await this.d.records.allocateNext(miner.config.id, miner.sealProof.id, (trx) => this.d.numbering.next(miner.config, trx));
      if (number === null) return null;
      if (!(await this.d.lotus.stateMinerSectorAllocated(miner.address, number))) {
        if (skipped.length > 0) this.d.log.warn({ miner: miner.config.id, skipped }, 'skipped sector numbers the chain already allocated');
        return number;
      }
      await this.d.records.abort({ Miner: miner.config.id, Number: number }, `number ${number} is already allocated on chain: never handed out`);
      skipped.push(number);
    }
    throw new RpcError(
      RPC_CODES.Application,
      `sector allocated. miner: ${miner.config.id}, sectors: (${skipped[0]}..${skipped.at(-1)}): all ${skipped.length} numbers are already allocated on chain; ` +
        `the manager's database is behind the chain (restored from an old backup?): set [miners.sector] init_number of miner ${miner.config.id} to the chain's highest sector number`,
    );
  }

  /**
   * Releases every orphan older than `orphan_after`: an allocated sector no worker ever reported on would
   * otherwise stay `sealing` for good once no thread asks for work. It is aborted rather than handed out
   * again: a number is never handed out twice (the worker that took it may only be cut off, not dead), and
   * any pieces it took go back to the queue. Nothing is released until this manager has been up for
   * orphan_after: its own downtime kept workers from reporting. Returns how many it released.
   */
  async releaseOrphans(): Promise<number> {
    const after = this.d.config.sectors.orphan_after;
    let released = 0;
    if (Date.now() - this.startedAt < after) return released;
    const reasonOf = (row: SectorRecord): string =>
      `${ORPHAN_REASON}no worker reported on it within ${formatDuration(after)} of allocation${row.abort_request === null ? '' : ` (abort requested: ${row.abort_request})`}`;
    for (let r = await this.d.records.releaseOrphan(Date.now() - after, reasonOf); r; r = await this.d.records.releaseOrphan(Date.now() - after, reasonOf)) {
      this.d.log.warn(
        { sector: sectorKey(idOf(r.sector)), allocatedAt: new Date(Number(r.sector.created_at)).toISOString(), reason: r.reason, piecesReleased: r.piecesReleased },
        'released an orphaned sector: no worker reported on it',
      );
      released++;
    }
    return released;
  }

  async acquireDeals(id: SectorID, spec: z.infer<typeof AcquireDealsSpec>): Promise<SectorPieceV2[] | null> {
    const row = await this.requireSealer(id, 'AcquireDeals');
    // No pieces is final once the sector is pre-committed as CC; before that, a worker that waits for deals
    // instead of sealing CC (damocles' disable_cc) asks again, and must get what was queued since.
    if (row.pieces !== null && (row.pieces.length > 0 || row.pre !== null)) return row.pieces.length > 0 ? row.pieces : null;
    const miner = this.d.miners.get(id.Miner);
    if (!miner.config.sector.enable_deals) return this.d.records.acquireDeals(id, async () => null);
    const head = (await this.d.lotus.chainHead()).Height;
    const limits = {
      MaxDeals: Math.min(spec.MaxDeals ?? Infinity, miner.config.deals.max_deals),
      MinUsedSpace: Math.max(spec.MinUsedSpace ?? 0, miner.config.deals.min_used_space),
    };
    const term = { start: head, end: sealerExpiration(head, miner, this.d.config) };
    return retryWhenPiecesTaken(() => this.d.records.acquireDeals(id, (trx) => this.d.pieces.acquire(trx, id, miner.sectorSize, limits, term)));
  }

  async assignTicket(id: SectorID): Promise<Ticket> {
    await this.requireSealer(id, 'AssignTicket');
    const miner = this.d.miners.get(id.Miner);
    const head = await this.d.lotus.chainHead();
    const epoch = Math.max(0, head.Height - this.d.config.chain.seal_randomness_lookback);
    const rand = await this.d.lotus.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, epoch, miner.entropy, head.Cids);
    const ticket = { Ticket: b64(rand), Epoch: epoch };
    await this.d.records.assignTicket(id, ticket);
    return ticket;
  }

  async submitPreCommit(sector: z.infer<typeof AllocatedSector>, info: z.infer<typeof PreCommitOnChainInfo>, reset: boolean): Promise<SubmitResp> {
    const id = sector.ID;
    const row = await this.requireSealer(id, 'SubmitPreCommit');
    const miner = this.d.miners.get(id.Miner);
    if (row.pre && !reset) {
      return isDeepStrictEqual(row.pre, info) ? ok('already submitted') : refuse(SubmitResult.MismatchedSubmission, 'a different pre-commit was already submitted for this sector');
    }
    // A sector that never acquired deals (its worker has deals off) is CC: its CommD is checked as such, and
    // its pieces are fixed as none, so an AcquireDeals after the pre-commit cannot give it pieces it does not hold.
    const pieces = row.pieces ?? [];
    const expected = unsealedSectorCommitment(
      miner.sectorSize,
      pieces.map((p) => ({ size: p.Piece.Size, commitment: cidToCommitment('unsealed', p.Piece.PieceCID['/']) })),
    );
    if (!Buffer.from(expected).equals(arrayToBytes(info.CommD))) {
      return refuse(SubmitResult.MismatchedSubmission, `CommD ${commitmentToCid('unsealed', arrayToBytes(info.CommD)).toString()} does not match the ${pieces.length > 0 ? 'pieces' : 'CC sector'} (expected ${commitmentToCid('unsealed', expected).toString()})`);
    }
    const head = await this.d.lotus.chainHead();
    const earliest = head.Height - this.d.config.chain.max_pre_commit_randomness_lookback;
    if (info.Ticket.Epoch < earliest) return refuse(SubmitResult.Rejected, `${TICKET_EXPIRED}: epoch ${info.Ticket.Epoch} is before ${earliest}, the oldest a PreCommit may use now`);
    const stored = row.ticket;
    if (!stored || stored.Epoch !== info.Ticket.Epoch || stored.Ticket !== info.Ticket.Ticket) {
      return refuse(SubmitResult.Rejected, 'the ticket is not the one assigned to this sector');
    }
    const onChain = await this.d.lotus.stateSectorPreCommitInfo(miner.address, id.Number);
    if (onChain) {
      if (onChain.Info.SealRandEpoch !== info.Ticket.Epoch) return refuse(SubmitResult.Rejected, 'a pre-commit with another ticket is on chain');
    } else if (await this.d.lotus.stateMinerSectorAllocated(miner.address, id.Number)) {
      return refuse(SubmitResult.Rejected, `sector number ${id.Number} is already allocated on chain`);
    }
    // A pre-commit the chain already has (its message was sent before a crash, say) must not be sent again.
    await this.d.records.queuePreCommit(id, info, pieces, onChain !== null);
    if (!onChain) this.d.committer.kick();
    return ok();
  }

  async pollPreCommitState(id: SectorID): Promise<PollStateResp> {
    const row = await this.d.records.require(id);
    const state = await this.d.committer.state(row.pre_message, row.pre !== null);
    if (state.State !== OnChainState.Landed) return state;
    const miner = this.d.miners.get(id.Miner);
    if (await this.d.lotus.stateSectorPreCommitInfo(miner.address, id.Number)) return state;
    if (await this.d.lotus.stateSectorGetInfo(miner.address, id.Number)) return state;
    return { State: OnChainState.ShouldAbort, Desc: 'pre-commit info not found on chain' };
  }

  async submitPersisted(id: SectorID, instance: string, isUpgrade: boolean): Promise<boolean> {
    // A finished sector's files are where its record says; a late call must not move them elsewhere.
    await this.d.records.requireSealing(id);
    let check;
    try {
      check = await this.d.stores.hasSectorFiles(instance, id, isUpgrade);
    } catch (err) {
      throw new RpcError(RPC_CODES.Application, (err as Error).message);
    }
    if (!check.ok) {
      this.d.log.warn({ sector: sectorKey(id), instance, missing: check.missing }, 'persisted files missing');
      return false;
    }
    await this.d.records.persisted(id, instance);
    return true;
  }

  async waitSeed(id: SectorID): Promise<WaitSeedResp> {
    await this.requireSealer(id, 'WaitSeed');
    const miner = this.d.miners.get(id.Miner);
    const pre = await this.d.lotus.stateSectorPreCommitInfo(miner.address, id.Number);
    if (!pre) throw new RpcError(RPC_CODES.Application, 'precommit info not found on chain');
    const params = this.d.miners.networkParams();
    const seedEpoch = pre.PreCommitEpoch + params.PreCommitChallengeDelay;
    const head = await this.d.lotus.chainHead();
    const ready = seedEpoch + this.d.config.chain.seed_confidence;
    if (head.Height < ready) return { ShouldWait: true, Delay: Math.max(1, (ready - head.Height) * Math.max(1, params.BlockDelaySecs)), Seed: null };
    const rand = await this.d.lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, seedEpoch, miner.entropy, head.Cids);
    const seed = { Seed: b64(rand), Epoch: seedEpoch };
    await this.d.records.assignSeed(id, seed);
    return { ShouldWait: false, Delay: 0, Seed: seed };
  }

  async submitProof(id: SectorID, info: z.infer<typeof ProofOnChainInfo>, reset: boolean): Promise<SubmitResp> {
    const row = await this.requireSealer(id, 'SubmitProof');
    if (!row.pre) return refuse(SubmitResult.Rejected, 'pre-commit info not found');
    if (row.proof && !reset) {
      return row.proof === info.Proof ? ok('already submitted') : refuse(SubmitResult.MismatchedSubmission, 'a different proof was already submitted for this sector');
    }
    if (!row.seed) return refuse(SubmitResult.Rejected, 'no seed was assigned to this sector');
    const miner = this.d.miners.get(id.Miner);
    const pre = await this.d.lotus.stateSectorPreCommitInfo(miner.address, id.Number);
    if (!pre) return refuse(SubmitResult.Rejected, 'pre-commit info not found on chain');
    const seed = row.seed;
    if (seed.Epoch !== pre.PreCommitEpoch + this.d.miners.networkParams().PreCommitChallengeDelay) {
      return refuse(SubmitResult.Rejected, `seed epoch ${seed.Epoch} is not the sector's interactive epoch`);
    }
    await this.d.records.queueProof(id, info.Proof);
    this.d.committer.kick();
    return ok();
  }

  async pollProofState(id: SectorID): Promise<PollStateResp> {
    const row = await this.d.records.require(id);
    const state = await this.d.committer.state(row.prove_message, row.proof !== null);
    if (state.State !== OnChainState.Landed) return state;
    const miner = this.d.miners.get(id.Miner);
    if (await this.d.lotus.stateSectorGetInfo(miner.address, id.Number)) return state;
    return { State: OnChainState.ShouldAbort, Desc: 'sector info not found on chain: its proof was not accepted' };
  }

  async reportState(id: SectorID, req: z.infer<typeof ReportStateReq>): Promise<SectorStateResp> {
    const row = await this.d.records.report(id, req);
    const sealing = row.status === 'sealing';
    this.d.onReport?.(id, row.plan, req);
    if (sealing && row.abort_request !== null) {
      // The operator's abort reaches the worker here; the sector is dropped now so a worker that only
      // cleans up (and never calls ReportAborted) leaves nothing behind.
      await this.abort(id, row.abort_request, true);
      return { Id: id, Finalized: true, AbortReason: row.abort_request };
    }
    return { Id: id, Finalized: !sealing, AbortReason: sealing ? null : row.abort_reason };
  }

  async reportFinalized(id: SectorID): Promise<null> {
    const row = await this.d.records.require(id);
    if (row.status === 'aborted') throw new RpcError(RPC_CODES.Application, `sector ${sectorKey(id)} was aborted: ${row.abort_reason ?? ''}`);
    if (row.status === 'finalized') return null;
    switch (row.plan) {
      case 'snapup':
        // A snap-up finishes when its update lands, not when the worker is done with it.
        return null;
      case 'sealer': {
        // Finalized only once its proof landed and the chain holds it.
        const proof = row.proof === null ? null : await this.pollProofState(id);
        if (proof?.State !== OnChainState.Landed || row.persist_instance === null) {
          const why = row.proof === null ? 'no proof was submitted' : row.persist_instance === null ? 'its files were not persisted' : `its proof has not landed (${proof?.Desc ?? 'pending'})`;
          throw new RpcError(RPC_CODES.Application, `ReportFinalized refused: sector ${sectorKey(id)} is still sealing: ${why}`);
        }
        break;
      }
      case 'rebuild':
        // A rebuilt sector is again what it was: the store puts it back under the plan that sealed it.
        break;
      default: {
        const unhandled: never = row.plan;
        throw new RpcError(RPC_CODES.Application, `ReportFinalized refused: sector ${sectorKey(id)} is under an unknown plan ${String(unhandled)}`);
      }
    }
    try {
      await this.d.records.finalize(id);
    } catch (err) {
      // The same report, sent again to another manager after the first one's answer was lost, finalized it meanwhile.
      if (err instanceof TransitionRefused && (await this.d.records.require(id)).status === 'finalized') return null;
      throw err;
    }
    return null;
  }

  async reportAborted(id: SectorID, reason: string): Promise<null> {
    const row = await this.d.records.require(id);
    if (row.status === 'aborted') return null;
    // The snap-up or rebuild the worker gives up was already ended here (an operator abort answered through
    // ReportState put the sector back as it was): its abort is done, and recorded once.
    if (row.status === 'finalized' && (await this.lastAttemptAborted(id))) return null;
    if (row.status === 'finalized') throw new RpcError(RPC_CODES.Application, `sector ${sectorKey(id)} is finalized and cannot be aborted`);
    await this.abort(id, reason);
    return null;
  }

  /** Whether the sector's last snap-up or rebuild ended in an abort (and nothing finalized it since). */
  private async lastAttemptAborted(id: SectorID): Promise<boolean> {
    // The outcome is among the latest events: each attempt writes one, and a sector's log is bounded by its steps.
    const last = (await this.d.records.events(id, 10_000))
      .filter((e) => e.worker_instance === MANAGER_EVENT_SOURCE && (ATTEMPT_OUTCOMES as readonly (string | null)[]).includes(e.event))
      .at(-1);
    return last?.event === 'Aborted';
  }

  /**
   * Drops what the sector's plan was doing (see the store's abort); `unlessEnded`: a sector another call
   * ended meanwhile is left as it is.
   */
  private async abort(id: SectorID, reason: string, unlessEnded = false): Promise<void> {
    const done = await this.d.records.abort(id, reason, { unlessEnded });
    if (done) this.d.log.info({ sector: sectorKey(id), reason, piecesReleased: done.piecesReleased }, 'sector aborted');
  }

  async allocateSnapUp(spec: z.infer<typeof AllocateSnapUpSpec>): Promise<AllocatedSnapUpSector | null> {
    for (const miner of this.candidates(spec.Sector, (m) => m.config.snapup.enabled)) {
      const cc = await this.d.records.list({ stage: 'finalized', miner: miner.config.id, plan: 'sealer' });
      for (const row of cc) {
        if ((row.pieces !== null && row.pieces.length > 0) || row.upgrade !== null || !row.persist_instance) continue;
        const info = await this.d.lotus.stateSectorGetInfo(miner.address, Number(row.number));
        if (!info || info.SectorKeyCID !== null || info.DealWeight !== '0' || info.VerifiedDealWeight !== '0') continue;
        const id = idOf(row);
        const head = (await this.d.lotus.chainHead()).Height;
        const upgrade: UpgradeRecord = {
          public: { CommR: bytesToArray(cidToCommitment('sealed', info.SealedCID['/'])), SealedCID: info.SealedCID, Activation: info.Activation, Expiration: info.Expiration },
          accessInstance: row.persist_instance,
        };
        const deals = { MaxDeals: spec.Deals.MaxDeals ?? null, MinUsedSpace: spec.Deals.MinUsedSpace ?? null };
        let pieces: SectorPieceV2[] | null;
        try {
          pieces = await retryWhenPiecesTaken(() =>
            this.d.records.startSnapUp(id, upgrade, (trx) => this.d.pieces.acquire(trx, id, miner.sectorSize, deals, { start: head, end: info.Expiration })),
          );
        } catch (err) {
          // Another call (or manager) took this candidate since it was listed: try the next one.
          if (err instanceof TransitionRefused) continue;
          throw err;
        }
        if (!pieces) return null;
        return { Sector: { ID: id, ProofType: Number(row.proof_type) }, Pieces: pieces, Public: upgrade.public, Private: { AccessInstance: upgrade.accessInstance } };
      }
    }
    return null;
  }

  async submitSnapUpProof(id: SectorID, info: z.infer<typeof SnapUpOnChainInfo>): Promise<SubmitResp> {
    if (info.Proof === '') return refuse(SubmitResult.Rejected, 'empty proof is invalid');
    const row = await this.d.records.requireSealing(id);
    if (row.plan !== 'snapup' || !row.upgrade) return refuse(SubmitResult.Rejected, 'sector is not being upgraded');
    const upgrade = row.upgrade;
    const pieces = (row.pieces ?? []).map((p) => p.Piece.PieceCID['/']);
    if (!isDeepStrictEqual(pieces, info.Pieces.map((p) => p['/']))) return refuse(SubmitResult.Rejected, 'pieces differ from the ones allocated to the sector');
    const submitted = { CommR: info.CommR, CommD: info.CommD, Proof: info.Proof, AccessInstance: info.AccessInstance };
    if (upgrade.submitted) {
      return isDeepStrictEqual(upgrade.submitted, submitted) ? ok('already submitted') : refuse(SubmitResult.MismatchedSubmission, 'a different update was already submitted for this sector');
    }
    const files = await this.d.stores.hasSectorFiles(info.AccessInstance, id, true).catch((err: Error) => ({ ok: false, missing: [err.message] }));
    if (!files.ok) return refuse(SubmitResult.FilesMissed, `not all files persisted: ${files.missing.join(', ')}`);
    await this.d.records.queueUpgrade(id, submitted);
    this.d.committer.kick();
    return ok();
  }

  async allocateRebuild(spec: z.infer<typeof AllocateSectorSpec>): Promise<SectorRebuildInfo | null> {
    for (const miner of this.candidates(spec, () => true)) {
      const row = await this.d.records.startRebuild(miner.config.id);
      if (!row) continue;
      const { pre, upgrade } = row;
      if (!pre) throw new RpcError(RPC_CODES.Application, `sector ${sectorKey(idOf(row))} has no pre-commit on record to rebuild from`);
      return {
        Sector: { ID: idOf(row), ProofType: Number(row.proof_type) },
        Ticket: pre.Ticket,
        Pieces: null,
        PiecesV2: row.pieces ?? [],
        IsSnapUp: upgrade !== null,
        UpgradePublic: upgrade ? upgrade.public : null,
      };
    }
    return null;
  }

  async reserveSpace(id: SectorID, size: number, candidates: string[]) {
    await this.d.records.requireSealing(id);
    return this.d.stores.reserve(id, size, candidates);
  }

  storeInfo(name: string) {
    return this.d.stores.basicInfo(name);
  }

  /**
   * Follows the replica-update messages of snap-ups (their workers are done once the update is
   * submitted): landed finalizes the upgraded sector, a retriable failure sends it again, a permanent one
   * returns the sector to CC and its pieces to the queue.
   */
  async watchUpgrades(): Promise<void> {
    for (const row of await this.d.records.list({ stage: 'upgrade_sent' })) {
      try {
        await this.watchUpgrade(row);
      } catch (err) {
        // Moved since it was listed (an operator's abort): nothing left to follow for it.
        if (!(err instanceof TransitionRefused)) throw err;
      }
    }
  }

  private async watchUpgrade(row: SectorRecord): Promise<void> {
    const id = idOf(row);
    const state = await this.d.committer.state(row.upgrade_message, true);
    if (state.State === OnChainState.Landed) {
      const miner = this.d.miners.get(id.Miner);
      const info = await this.d.lotus.stateSectorGetInfo(miner.address, id.Number);
      const expected = commitmentToCid('sealed', arrayToBytes(row.upgrade?.submitted?.CommR ?? [])).toString();
      if (info?.SealedCID['/'] !== expected) {
        await this.abort(id, 'replica update landed but the chain did not take it (invalid proof?)');
        return;
      }
      await this.d.records.landUpgrade(id, info.PowerBaseEpoch, `new CommR ${expected}`);
    } else if (state.State === OnChainState.Failed) {
      await this.d.records.resendUpgrade(id, state.Desc);
    } else if (state.State === OnChainState.PermFailed) {
      await this.abort(id, state.Desc ?? 'replica update failed');
    }
  }
}

/** The `Venus.*` method table (write permission: only workers and operators call it). */
export function sealerMethods(s: SealerService, workers: WorkerRegistry): Record<string, MethodDef> {
  const w = 'write' as const;
  const snapAlloc = method([AllocateSnapUpSpec], (spec) => s.allocateSnapUp(spec), w);
  const table: Record<string, MethodDef> = {
    AllocateSector: method([AllocateSectorSpec], (spec) => s.allocateSector(spec), w),
    AcquireDeals: method([SectorID, AcquireDealsSpec], (id, spec) => s.acquireDeals(id, spec), w),
    AssignTicket: method([SectorID], (id) => s.assignTicket(id), w),
    SubmitPreCommit: method([AllocatedSector, PreCommitOnChainInfo, z.boolean()], (sector, info, reset) => s.submitPreCommit(sector, info, reset), w),
    PollPreCommitState: method([SectorID], (id) => s.pollPreCommitState(id), w),
    SubmitPersisted: method([SectorID, nameString], (id, instance) => s.submitPersisted(id, instance, false), w),
    SubmitPersistedEx: method([SectorID, nameString, z.boolean()], (id, instance, up) => s.submitPersisted(id, instance, up), w),
    WaitSeed: method([SectorID, z.number().int().optional()], (id) => s.waitSeed(id), w),
    SubmitProof: method([SectorID, ProofOnChainInfo, z.boolean()], (id, info, reset) => s.submitProof(id, info, reset), w),
    PollProofState: method([SectorID], (id) => s.pollProofState(id), w),
    ReportState: method([SectorID, ReportStateReq], (id, req) => s.reportState(id, req), w),
    ReportFinalized: method([SectorID], (id) => s.reportFinalized(id), w),
    ReportAborted: method([SectorID, textString], (id, reason) => s.reportAborted(id, reason), w),
    AllocateSnapUpSector: snapAlloc,
    AllocateSanpUpSector: snapAlloc,
    SubmitSnapUpProof: method([SectorID, SnapUpOnChainInfo], (id, info) => s.submitSnapUpProof(id, info), w),
    AllocateRebuildSector: method([AllocateSectorSpec], (spec) => s.allocateRebuild(spec), w),
    WorkerPing: callerMethod([WorkerInfo], (caller, info) => workers.ping(info, caller).then(() => null), w),
    StoreReserveSpace: method([SectorID, z.number().int().positive(), boundedArray(nameString).nullable()], (id, size, candidates) =>
      s.reserveSpace(id, size, candidates ?? []), w),
    StoreBasicInfo: method([nameString], (name) => s.storeInfo(name), w),
  };
  return Object.fromEntries(Object.entries(table).map(([name, def]) => [`Venus.${name}`, def]));
}
