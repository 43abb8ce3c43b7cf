import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/log.js';
import { commitmentToCid } from '../../core/commitment.js';
import { OnChainState, arrayToBytes, type PollStateResp, type SectorPieceV2 } from '../../core/wire/sealer.js';
import { CID } from 'multiformats/cid';
import type { LotusClient } from '../../chain/client.js';
import { exitCodeName, isRetriableExit } from '../../chain/exitCodes.js';
import {
  encodePreCommitSectorBatch2,
  encodeProveCommitSectors3,
  encodeProveReplicaUpdates3,
  MinerMethod,
  toLotusPreCommitInfo,
  type PieceActivationManifest,
} from '../../chain/minerParams.js';
import type { ManagerConfig } from '../config.js';
import type { ManagerDb } from '../db/open.js';
import { unlessBusy } from '../db/locks.js';
import type { MessagesTable } from '../db/schema.js';
import type { DbDialect } from '../db/target.js';
import type { MinerFacts, Miners } from './miners.js';
import { ALREADY_ON_CHAIN, sectorKey, type SectorRecord, type SectorStore } from '../sectors/store.js';

type Kind = MessagesTable['kind'];

/** What became of a message this manager pushed or saw land (metrics): `exitCode` is null for `sent`. */
export type ChainMessageObserver = (kind: Kind, method: number, outcome: 'sent' | 'landed' | 'failed', exitCode: number | null) => void;

const EPOCHS_PER_DAY = 2880;

/** The expiration a sector pre-committed at `head` asks for: the latest activation plus the miner's lifetime. */
export const sealerExpiration = (head: number, miner: MinerFacts, config: ManagerConfig): number =>
  head + config.chain.max_prove_commit_duration + miner.config.sector.lifetime_days * EPOCHS_PER_DAY;

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const pieceManifests = (pieces: SectorPieceV2[] | null): PieceActivationManifest[] =>
  (pieces ?? []).map((p) => ({
    cid: CID.parse(p.Piece.PieceCID['/']),
    size: p.Piece.Size,
    verifiedAllocationKey: null,
    notify: [],
  }));

/** What a queued sector's stage promises it holds; a record without it is corrupt, and its batch is not sent. */
function queuedData<T>(r: SectorRecord, value: T | null | undefined, what: string): T {
  if (value === null || value === undefined) throw new Error(`sector ${sectorKey({ Miner: Number(r.miner), Number: Number(r.number) })} is ${r.stage} but holds no ${what}`);
  return value;
}

/**
 * Sends the miners' PreCommit, ProveCommit and ProveReplicaUpdate messages. Sectors wait in the database
 * (a record with its data and no message id) until their miner's batch is full or its oldest sector has
 * waited long enough; the batch becomes a message row first and is pushed with that row's id as MsgUuid,
 * so a manager killed at any point pushes the same message again, never a second one.
 */
export class Committer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private pendingKick = false;

  constructor(
    private readonly db: ManagerDb,
    private readonly records: SectorStore,
    private readonly lotus: LotusClient,
    private readonly miners: Miners,
    private readonly config: ManagerConfig,
    private readonly log: Logger,
    private readonly dialect: DbDialect,
    private readonly observe?: ChainMessageObserver,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), Math.max(250, this.config.chain.poll_interval));
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Asks for a round soon; rounds never overlap. */
  kick(): void {
    if (this.pendingKick) return;
    this.pendingKick = true;
    this.running = this.running.then(async () => {
      this.pendingKick = false;
      try {
        await this.round();
      } catch (err) {
        this.log.warn({ err }, 'commitment round failed; retrying next round');
      }
    });
  }

  /**
   * Pushes the messages nobody pushed yet (whichever manager formed them), then forms each miner's batches.
   * Several managers on one database run rounds at once: forming one miner's batch of one kind is one
   * manager's at a time (the others skip it this round), and a message pushed by two is one message, since
   * both push it with its id as MsgUuid.
   */
  private async round(): Promise<void> {
    const unsent = await this.db.selectFrom('messages').selectAll().where('state', '=', 'new').execute();
    for (const m of unsent) await this.push(m.id);
    for (const miner of this.miners.all()) {
      for (const kind of ['precommit', 'prove', 'snap'] as const) {
        await unlessBusy(this.db, this.dialect, `commitment:${miner.config.id}:${kind}`, () => this.batch(miner, kind));
      }
    }
  }

  private async batch(miner: MinerFacts, kind: Kind): Promise<void> {
    const rows = await this.records.queued(miner.config.id, kind, 256);
    if (rows.length === 0) return;
    const c = miner.config.commitment;
    const [threshold, maxWait] = kind === 'precommit' ? [c.pre_batch_threshold, c.pre_batch_max_wait] : [c.prove_batch_threshold, c.prove_batch_max_wait];
    const oldest = Math.min(...rows.map((r) => r.queued_at ?? r.updated_at));
    if (rows.length < threshold && Date.now() - oldest < maxWait) return;
    const head = await this.lotus.chainHead();
    const built = await this.build(miner, kind, rows, head.Height);
    const id = randomUUID();
    const numbers = rows.map((r) => Number(r.number));
    await this.records.recordMessage(kind, miner.config.id, numbers, id, async (trx) => {
      await trx
        .insertInto('messages')
        .values({ id, kind, miner: miner.config.id, sectors: JSON.stringify(numbers), method: built.method, params: b64(built.params), value: built.value.toString(), cid: null, state: 'new', exit_code: null, height: null, created_at: Date.now() })
        .execute();
    });
    this.log.info({ miner: miner.address, kind, sectors: rows.map((r) => r.number), message: id }, 'batch formed');
    await this.push(id);
  }

  private async build(miner: MinerFacts, kind: Kind, rows: SectorRecord[], head: number): Promise<{ method: number; params: Uint8Array; value: bigint }> {
    if (kind === 'precommit') {
      const sectors = rows.map((r) => {
        const pre = queuedData(r, r.pre, 'pre-commit');
        const hasData = (r.pieces ?? []).length > 0;
        return {
          sealProof: r.proof_type,
          sectorNumber: r.number,
          sealedCid: commitmentToCid('sealed', arrayToBytes(pre.CommR)),
          sealRandEpoch: pre.Ticket.Epoch,
          dealIds: [],
          expiration: sealerExpiration(head, miner, this.config),
          unsealedCid: hasData ? commitmentToCid('unsealed', arrayToBytes(pre.CommD)) : null,
        };
      });
      let value = 0n;
      for (const s of sectors) {
        value += await this.lotus.stateMinerPreCommitDepositForPower(miner.address, toLotusPreCommitInfo(s));
      }
      return { method: MinerMethod.PreCommitSectorBatch2, params: encodePreCommitSectorBatch2({ sectors }), value };
    }
    if (kind === 'prove') {
      let value = 0n;
      for (const r of rows) {
        const pre = await this.lotus.stateSectorPreCommitInfo(miner.address, r.number);
        const duration = pre ? pre.Info.Expiration - head : miner.config.sector.lifetime_days * EPOCHS_PER_DAY;
        value += await this.lotus.stateMinerInitialPledgeForSector(duration, miner.sectorSize, 0n);
      }
      return {
        method: MinerMethod.ProveCommitSectors3,
        params: encodeProveCommitSectors3({
          sectorActivations: rows.map((r) => ({ sectorNumber: r.number, pieces: pieceManifests(r.pieces) })),
          sectorProofs: rows.map((r) => new Uint8Array(Buffer.from(queuedData(r, r.proof, 'proof'), 'base64'))),
          aggregateProof: new Uint8Array(),
          aggregateProofType: null,
          // One bad proof must not sink the rest of a batch; its sector shows up as not activated.
          requireActivationSuccess: false,
          requireNotificationSuccess: false,
        }),
        value,
      };
    }
    const updates = [];
    for (const r of rows) {
      const submitted = queuedData(r, r.upgrade?.submitted, 'replica update');
      const where = await this.lotus.stateSectorPartition(miner.address, r.number);
      updates.push({
        sector: r.number,
        deadline: where.Deadline,
        partition: where.Partition,
        newSealedCid: commitmentToCid('sealed', arrayToBytes(submitted.CommR)),
        pieces: pieceManifests(r.pieces),
        proof: new Uint8Array(Buffer.from(submitted.Proof, 'base64')),
      });
    }
    return {
      method: MinerMethod.ProveReplicaUpdates3,
      params: encodeProveReplicaUpdates3({
        sectorUpdates: updates.map(({ proof: _proof, ...u }) => u),
        sectorProofs: updates.map((u) => u.proof),
        aggregateProof: new Uint8Array(),
        updateProofsType: miner.sealProof.updateProof,
        aggregateProofType: null,
        requireActivationSuccess: false,
        requireNotificationSuccess: false,
      }),
      value: 0n,
    };
  }

  private async push(id: string): Promise<void> {
    const m = await this.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const miner = this.miners.get(m.miner);
    try {
      const signed = await this.lotus.mpoolPushMessage(
        { To: miner.address, From: miner.sender, Value: m.value, Method: m.method, Params: m.params },
        { MsgUuid: m.id },
      );
      await this.db.updateTable('messages').set({ cid: signed.CID['/'], state: 'pushed' }).where('id', '=', id).execute();
      this.observe?.(m.kind, m.method, 'sent', null);
      this.log.info({ kind: m.kind, miner: miner.address, cid: signed.CID['/'], sectors: JSON.parse(m.sectors) as number[] }, 'message pushed');
    } catch (err) {
      // Stays `new`: the next round pushes it again with the same MsgUuid.
      this.log.warn({ err, message: id }, 'message push failed');
    }
  }

  /**
   * Where a sector's message stands, as the worker's poll sees it. A receipt is cached once final; a
   * message that failed for lack of funds or gas reads `Failed`, so the worker resubmits with reset.
   */
  async state(messageId: string | null, queued: boolean): Promise<PollStateResp> {
    if (messageId === ALREADY_ON_CHAIN) return { State: OnChainState.Landed, Desc: 'already on chain' };
    if (!messageId) return queued ? { State: OnChainState.Pending, Desc: 'waiting for its batch' } : { State: OnChainState.Failed, Desc: 'no message was sent for this sector' };
    const m = await this.db.selectFrom('messages').selectAll().where('id', '=', messageId).executeTakeFirst();
    if (!m) return { State: OnChainState.Failed, Desc: `message ${messageId} is unknown` };
    if (m.state === 'new' || !m.cid) return { State: OnChainState.Pending, Desc: 'message not yet accepted by the node' };
    if (m.exit_code === null || m.height === null) {
      const found = await this.lotus.stateSearchMsg({ '/': m.cid });
      if (!found) return { State: OnChainState.Pending, Desc: `message ${m.cid} in the pool` };
      const outcome = found.Receipt.ExitCode === 0 ? 'landed' : 'failed';
      // Only the poll that records the receipt counts it: concurrent polls (and managers) may all find it.
      const recorded = await this.db
        .updateTable('messages')
        .set({ exit_code: found.Receipt.ExitCode, height: found.Height, state: outcome })
        .where('id', '=', messageId)
        .where('exit_code', 'is', null)
        .executeTakeFirst();
      if (Number(recorded.numUpdatedRows) > 0) this.observe?.(m.kind, m.method, outcome, found.Receipt.ExitCode);
      m.exit_code = found.Receipt.ExitCode;
      m.height = found.Height;
    }
    const head = await this.lotus.chainHead();
    if (head.Height - Number(m.height) < this.config.chain.message_confidence) return { State: OnChainState.Packed, Desc: `in tipset ${m.height}` };
    const code = m.exit_code;
    if (code === 0) return { State: OnChainState.Landed, Desc: null };
    const desc = `message ${m.cid} failed with exit code ${code} (${exitCodeName(code)})`;
    return { State: isRetriableExit(code) ? OnChainState.Failed : OnChainState.PermFailed, Desc: desc };
  }
}
