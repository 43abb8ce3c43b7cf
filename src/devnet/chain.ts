import { EventEmitter } from 'node:events';
import { encode as encodeCbor } from '@ipld/dag-cbor';
import { blake2b } from '@noble/hashes/blake2.js';
import { CID } from 'multiformats/cid';
import { from as hasherFrom } from 'multiformats/hashes/hasher';
import { identity } from 'multiformats/hashes/identity';
import { RpcError, RPC_CODES } from '../core/rpc/errors.js';
import { sealProofForSize } from '../core/proofTypes.js';
import { actorIdOf, idAddress, minerEntropy } from '../chain/address.js';
import { ExitCode } from '../chain/exitCodes.js';
import { messageCid } from '../chain/message.js';
import { DomainSeparationTag, drawRandomness } from '../chain/randomness.js';
import { toRunsJson } from '../chain/bitfield.js';
import type {
  Actor,
  BitFieldJson,
  BlockHeader,
  CidJson,
  Deadline,
  DeadlineInfo,
  Message,
  MinerInfo,
  MsgLookup,
  Partition,
  SectorLocation,
  SectorOnChainInfo,
  SectorPreCommitOnChainInfo,
  SignedMessage,
  TipSet,
  TipSetKey,
} from '../chain/types.js';
import type { DevnetConfig, DevnetMiner } from './config.js';
import { ActorError, type ActorContext, type VerifyRequest } from './actorRuntime.js';
import { invokeMiner } from './minerActor.js';
import { currentDeadline, provingPeriodOffset, provingPolicy, toLotusDeadline, type ProvingPolicy } from './proving.js';
import { deadlineCron } from './provingActor.js';
import type { DevnetStore, MessageRow, ProvingRow, TipsetRow } from './store.js';
import type { ProofVerifier } from './verifier.js';

const blake2b256 = hasherFrom({ name: 'blake2b-256', code: 0xb220, encode: (b: Uint8Array) => blake2b(b, { dkLen: 32 }) });
const DAG_CBOR = 0x71;

function cborCid(value: unknown): CID {
  const digest = blake2b256.digest(encodeCbor(value));
  if (digest instanceof Promise) throw new Error('blake2b hasher is synchronous');
  return CID.createV1(DAG_CBOR, digest);
}

const cidJson = (cid: string): CidJson => ({ '/': cid });
const ROLLBACK = Symbol('rollback');
/** Actor code CIDs in the builtin-actors naming scheme (raw codec, identity hash of `fil/<version>/<name>`). */
const actorCode = (name: string): CidJson => cidJson(CID.createV1(0x55, identity.digest(new TextEncoder().encode(`fil/18/${name}`))).toString());
const ACCOUNT_CODE = actorCode('account');
const MINER_CODE = actorCode('storageminer');
const GAS_LIMIT = 10_000_000;

export interface DevnetChainOptions {
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * A single-producer chain: one block per tipset, a new tipset on each `mine()`. Pushed messages are
 * persisted at once and executed in the next tipset; each tipset (its messages' receipts and every state
 * change) is committed in one SQLite transaction.
 */
export class DevnetChain extends EventEmitter<{ tipset: [TipsetRow] }> {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly minersById: Map<number, DevnetMiner>;
  readonly proving: ProvingPolicy;
  private readonly offsets: Map<number, number>;

  constructor(
    readonly store: DevnetStore,
    readonly config: DevnetConfig,
    private readonly verifier: ProofVerifier,
    private readonly options: DevnetChainOptions = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.minersById = new Map(config.miners.map((m) => [m.id, m]));
    this.proving = provingPolicy(config.chain);
    this.offsets = new Map(config.miners.map((m) => [m.id, provingPeriodOffset(this.proving, m.id)]));
    this.genesis();
  }

  /** Creates height 0 and the configured actors in a new store; a store that has a chain keeps it. */
  private genesis(): void {
    if (this.store.head()) return;
    this.store.transaction(() => {
      this.store.setMeta('network_name', this.config.chain.network_name);
      for (const a of this.config.accounts) this.store.putAccount({ id: a.id, balance: a.balance, nonce: 0 });
      for (const m of this.config.miners) this.store.putMiner({ id: m.id, info: JSON.stringify(m), balance: 0n, locked: 0n });
      this.store.insertTipset(this.buildTipset(0, null, Math.floor(Date.now() / 1000), []));
    });
  }

  /** Resolves when every queued chain mutation (a tipset in production, a push) has finished. */
  settled(): Promise<void> {
    return this.serial(() => undefined);
  }

  head(): TipsetRow {
    return this.store.head() as TipsetRow;
  }

  /** Runs `fn` after every earlier chain mutation has finished: one writer at a time. */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private buildTipset(height: number, parent: string | null, timestamp: number, messages: string[]): TipsetRow {
    const cid = cborCid([height, parent, timestamp, messages, this.config.chain.randomness_seed]).toString();
    return { height, cid, parent, timestamp, messages };
  }

  /** Produces the next tipset, executing every pending message in push order. */
  mine(): Promise<TipsetRow> {
    return this.serial(async () => {
      const pending = this.store.pendingMessages();
      const wanted = new Map<string, VerifyRequest>();
      try {
        this.store.transaction(() => {
          this.produce(pending, (req) => {
            wanted.set(verifyKey(req), req);
            return true;
          });
          throw ROLLBACK;
        });
      } catch (err) {
        if (err !== ROLLBACK) throw err;
      }
      const verdicts = new Map<string, boolean>();
      for (const [key, req] of wanted) {
        const valid = await this.verifyOne(req);
        // Which verifier judged each proof: with real proofs, the only sign the chain did not take it on trust.
        this.options.log?.('proof checked', { kind: req.kind, verifier: this.verifier.name, valid });
        verdicts.set(key, valid);
      }
      const row = this.store.transaction(() => this.produce(pending, (req) => verdicts.get(verifyKey(req)) ?? false));
      this.emit('tipset', row);
      return row;
    });
  }

  private verifyOne(req: VerifyRequest): Promise<boolean> {
    switch (req.kind) {
      case 'seal':
        return this.verifier.verifySeal(req.proof, req.inputs);
      case 'update':
        return this.verifier.verifyUpdate(req.proof, req.inputs);
      case 'window_post':
        return this.verifier.verifyWindowPoSt(req.proof, req.inputs);
    }
  }

  private produce(pending: MessageRow[], verify: (req: VerifyRequest) => boolean): TipsetRow {
    const parent = this.head();
    const height = parent.height + 1;
    const ctx: ActorContext = {
      store: this.store,
      epoch: height,
      policy: {
        preCommitChallengeDelay: this.config.chain.pre_commit_challenge_delay,
        maxPreCommitRandomnessLookback: this.config.chain.max_pre_commit_randomness_lookback,
        maxProveCommitDuration: this.config.chain.max_prove_commit_duration,
        expiredPreCommitCleanUpDelay: this.config.chain.expired_pre_commit_clean_up_delay,
        minSectorExpiration: this.config.chain.min_sector_expiration,
        maxSectorExpirationExtension: this.config.chain.max_sector_expiration_extension,
      },
      proving: this.proving,
      provingOffset: (miner) => this.offsets.get(miner) ?? 0,
      chainCommitRandomness: (epoch) => this.draw('ticket', DomainSeparationTag.PoStChainCommit, epoch, new Uint8Array(0)),
      windowPoStRandomness: (miner, epoch) => this.draw('beacon', DomainSeparationTag.WindowedPoStChallengeSeed, epoch, minerEntropy(miner)),
      sealRandomness: (miner, epoch) => this.draw('ticket', DomainSeparationTag.SealRandomness, epoch, minerEntropy(miner)),
      interactiveRandomness: (miner, epoch) =>
        this.draw('beacon', DomainSeparationTag.InteractiveSealChallengeSeed, epoch, minerEntropy(miner)),
      verify,
    };
    for (const m of pending) this.execute(ctx, m);
    this.expirePreCommits(height);
    for (const miner of this.config.miners) deadlineCron(ctx, miner);
    const row = this.buildTipset(height, parent.cid, Math.max(Math.floor(Date.now() / 1000), parent.timestamp), pending.map((m) => m.cid));
    this.store.insertTipset(row);
    return row;
  }

  private execute(ctx: ActorContext, row: MessageRow): void {
    const msg = JSON.parse(row.body) as Message;
    const value = BigInt(msg.Value);
    const gasUsed = 1_000_000 + 10 * (msg.Params ? Buffer.from(msg.Params, 'base64').length : 0);
    const done = (exitCode: number, ret: Uint8Array | null, why?: string): void => {
      this.store.setReceipt(row.cid, ctx.epoch, exitCode, ret ? Buffer.from(ret).toString('base64') : null, gasUsed);
      if (exitCode !== ExitCode.Ok) this.options.log?.('message failed', { cid: row.cid, exitCode, why });
    };
    const sender = this.store.account(row.sender);
    if (!sender) return done(ExitCode.SysErrSenderInvalid, null, 'unknown sender');
    if (sender.balance < value) return done(ExitCode.SysErrInsufficientFunds, null, 'sender cannot pay the value');
    const to = actorIdOf(msg.To);
    const miner = this.minersById.get(to);
    const account = miner ? undefined : this.store.account(to);
    if (!miner && !account) return done(ExitCode.SysErrInvalidReceiver, null, `no actor t0${to}`);
    this.store.db.exec('savepoint message');
    try {
      this.store.putAccount({ ...sender, balance: sender.balance - value, nonce: row.nonce + 1 });
      let ret: Uint8Array | null = null;
      if (miner) {
        const state = this.store.miner(miner.id);
        if (state) this.store.putMiner({ ...state, balance: state.balance + value });
        if (msg.Method !== 0) {
          ret = invokeMiner(ctx, { miner, caller: row.sender, method: msg.Method, params: paramsOf(msg) });
        }
      } else if (account) {
        if (msg.Method !== 0) throw new ActorError(ExitCode.ErrUnhandledMessage, `account actor has no method ${msg.Method}`);
        const receiver = this.store.account(to) ?? account;
        this.store.putAccount({ ...receiver, balance: receiver.balance + value });
      }
      this.store.db.exec('release message');
      done(ExitCode.Ok, ret);
    } catch (err) {
      this.store.db.exec('rollback to message');
      this.store.db.exec('release message');
      if (!(err instanceof ActorError)) throw err;
      // A failed message still uses its nonce.
      const after = this.store.account(row.sender) ?? sender;
      this.store.putAccount({ ...after, nonce: row.nonce + 1 });
      done(err.exitCode, null, err.message);
    }
  }

  /** The actor's cron: pre-commits not proven in time are removed (after a grace delay) and their deposit burnt. */
  private expirePreCommits(height: number): void {
    const cutoff = height - this.config.chain.max_prove_commit_duration - this.config.chain.expired_pre_commit_clean_up_delay;
    for (const pre of this.store.expiredPreCommits(cutoff)) {
      this.store.endPreCommit(pre.miner, pre.number, height);
      const state = this.store.miner(pre.miner);
      if (state) this.store.putMiner({ ...state, balance: state.balance - pre.deposit, locked: state.locked - pre.deposit });
      this.options.log?.('pre-commit expired', { miner: pre.miner, sector: pre.number, height });
    }
  }

  private baseRandomness(kind: 'ticket' | 'beacon', epoch: number): Uint8Array {
    const h = blake2b.create({ dkLen: 32 });
    h.update(new TextEncoder().encode(`sealfleet-devnet/${kind}/${this.config.chain.randomness_seed}/`));
    const e = new Uint8Array(8);
    new DataView(e.buffer).setBigInt64(0, BigInt(epoch));
    return h.update(e).digest();
  }

  private draw(kind: 'ticket' | 'beacon', tag: number, epoch: number, entropy: Uint8Array): Uint8Array {
    return drawRandomness(this.baseRandomness(kind, epoch), tag, epoch, entropy);
  }

  /** Chain randomness as `StateGetRandomnessFrom{Tickets,Beacon}` serves it. */
  randomness(kind: 'ticket' | 'beacon', tag: number, epoch: number, entropy: Uint8Array, tsk: TipSetKey): Uint8Array {
    const at = this.resolve(tsk);
    if (epoch > at.height) throw appError(`cannot draw randomness from the future: epoch ${epoch} is after ${at.height}`);
    if (epoch < 0) throw appError(`cannot draw randomness from negative epoch ${epoch}`);
    return this.draw(kind, tag, epoch, entropy);
  }

  /** The tipset a key names; null or [] is the head. */
  resolve(tsk: TipSetKey): TipsetRow {
    if (!tsk || tsk.length === 0) return this.head();
    const row = tsk.length === 1 ? this.store.tipsetByCid((tsk[0] as CidJson)['/']) : undefined;
    if (!row) throw appError(`loading tipset ${JSON.stringify(tsk)}: not found`);
    return row;
  }

  tipsetAtHeight(height: number, tsk: TipSetKey): TipsetRow {
    const from = this.resolve(tsk);
    if (height > from.height) throw appError(`looking for tipset with height greater than start point (${height} > ${from.height})`);
    if (height < 0) throw appError(`negative height ${height}`);
    return this.store.tipsetAt(height) as TipsetRow;
  }

  tipsetJson(row: TipsetRow): TipSet {
    const miner = idAddress(this.config.miners[0]?.id ?? 1000);
    const block: BlockHeader = {
      Miner: miner,
      Ticket: { VRFProof: Buffer.from(this.baseRandomness('ticket', row.height)).toString('base64') },
      ElectionProof: { WinCount: 1, VRFProof: '' },
      BeaconEntries: [{ Round: row.height, Data: Buffer.from(this.baseRandomness('beacon', row.height)).toString('base64') }],
      WinPoStProof: [],
      Parents: row.parent ? [cidJson(row.parent)] : [],
      ParentWeight: String(row.height * 1000),
      Height: row.height,
      ParentStateRoot: cidJson(cborCid(['state', row.cid]).toString()),
      ParentMessageReceipts: cidJson(cborCid(['receipts', row.cid]).toString()),
      Messages: cidJson(cborCid(row.messages).toString()),
      BLSAggregate: null,
      Timestamp: row.timestamp,
      BlockSig: null,
      ForkSignaling: 0,
      ParentBaseFee: '100',
    };
    return { Cids: [cidJson(row.cid)], Blocks: [block], Height: row.height };
  }

  private minerOf(address: string): DevnetMiner {
    const id = parseId(address);
    const miner = this.minersById.get(id);
    if (!miner) throw appError(`actor not found: ${address} is not a miner on this devnet`);
    return miner;
  }

  minerInfo(address: string): MinerInfo {
    const m = this.minerOf(address);
    const proof = sealProofForSize(m.sectorSize);
    return {
      Owner: idAddress(m.owner),
      Worker: idAddress(m.worker),
      NewWorker: '<empty>',
      ControlAddresses: m.control.map((c) => idAddress(c)),
      WorkerChangeEpoch: -1,
      PeerId: null,
      Multiaddrs: null,
      WindowPoStProofType: proof.windowPoStProof,
      SectorSize: m.sectorSize,
      WindowPoStPartitionSectors: m.partitionSectors,
      ConsensusFaultElapsed: -1,
      PendingOwnerAddress: null,
      Beneficiary: idAddress(m.owner),
      BeneficiaryTerm: { Quota: '0', UsedQuota: '0', Expiration: 0 },
      PendingBeneficiaryTerm: null,
    };
  }

  lookupId(address: string): string {
    const id = parseId(address);
    if (!this.minersById.has(id) && !this.store.account(id)) throw appError(`actor not found: ${address}`);
    return idAddress(id);
  }

  actor(address: string): Actor {
    const id = parseId(address);
    const miner = this.store.miner(id);
    if (miner) return { Code: MINER_CODE, Head: cidJson(cborCid(['miner', id, miner.balance.toString()]).toString()), Nonce: 0, Balance: miner.balance.toString() };
    const account = this.store.account(id);
    if (!account) throw appError(`actor not found: ${address}`);
    return { Code: ACCOUNT_CODE, Head: cidJson(cborCid(['account', id, account.nonce]).toString()), Nonce: account.nonce, Balance: account.balance.toString() };
  }

  availableBalance(address: string): bigint {
    const m = this.store.miner(this.minerOf(address).id);
    return m ? m.balance - m.locked : 0n;
  }

  sectorAllocated(address: string, number: number, tsk: TipSetKey): boolean {
    return this.store.isAllocated(this.minerOf(address).id, number, this.resolve(tsk).height);
  }

  preCommitInfo(address: string, number: number, tsk: TipSetKey): SectorPreCommitOnChainInfo | null {
    const row = this.store.preCommit(this.minerOf(address).id, number, this.resolve(tsk).height);
    if (!row) return null;
    return { Info: JSON.parse(row.info) as SectorPreCommitOnChainInfo['Info'], PreCommitDeposit: row.deposit.toString(), PreCommitEpoch: row.epoch };
  }

  sectorInfo(address: string, number: number, tsk: TipSetKey): SectorOnChainInfo | null {
    const row = this.store.sector(this.minerOf(address).id, number, this.resolve(tsk).height);
    return row ? (JSON.parse(row.info) as SectorOnChainInfo) : null;
  }

  sectorPartition(address: string, number: number, tsk: TipSetKey): SectorLocation {
    const where = this.sectorInfo(address, number, tsk) && this.store.proving(this.minerOf(address).id, number);
    if (!where) throw appError(`sector ${number} not found in any partition of ${address}`);
    return { Deadline: where.deadline, Partition: where.partition };
  }

  /** The miner's open deadline at the tipset (always open: deadlines tile the chain). */
  provingDeadline(address: string, tsk: TipSetKey): DeadlineInfo {
    const m = this.minerOf(address);
    return toLotusDeadline(this.proving, currentDeadline(this.proving, this.offsets.get(m.id) ?? 0, this.resolve(tsk).height));
  }

  /**
   * Each deadline's `PostSubmissions`: the partitions proven so far in the open deadline; the others are empty,
   * as the actor clears them when a deadline ends.
   */
  deadlines(address: string, tsk: TipSetKey): Deadline[] {
    const m = this.minerOf(address);
    const current = currentDeadline(this.proving, this.offsets.get(m.id) ?? 0, this.resolve(tsk).height);
    return Array.from({ length: this.proving.periodDeadlines }, (_, index) => ({
      PostSubmissions: toRunsJson(index === current.index ? this.store.postedPartitions(m.id, current.open) : []),
      DisputableProofCount: 0,
      DailyFee: '0',
    }));
  }

  partitions(address: string, deadline: number): Partition[] {
    const m = this.minerOf(address);
    if (deadline >= this.proving.periodDeadlines) throw appError(`deadline ${deadline} out of range 0..${this.proving.periodDeadlines}`);
    const byPartition: ProvingRow[][] = [];
    for (const s of this.store.deadlineSectors(m.id, deadline)) (byPartition[s.partition] ??= []).push(s);
    return byPartition.map((rows) => {
      const numbers = (pick: (r: ProvingRow) => boolean): BitFieldJson => toRunsJson(rows.filter(pick).map((r) => r.number));
      return {
        AllSectors: numbers(() => true),
        FaultySectors: numbers((r) => r.faulty),
        RecoveringSectors: numbers((r) => r.recovering),
        LiveSectors: numbers((r) => !r.terminated),
        ActiveSectors: numbers((r) => !r.terminated && !r.faulty),
      };
    });
  }

  /** Every faulty (or, with `recovering`, recovering) sector of the miner. */
  faultySectors(address: string, recovering: boolean): BitFieldJson {
    const rows = this.store.provingSectors(this.minerOf(address).id);
    return toRunsJson(rows.filter((r) => (recovering ? r.recovering : r.faulty)).map((r) => r.number));
  }

  /**
   * Adds a message to the pool: the devnet plays the node's wallet, assigning nonce and gas. A push with a
   * `MsgUuid` already seen returns that first message (Lotus' idempotent push), so a caller that crashed
   * between pushing and recording the CID can push again safely.
   */
  pushMessage(input: Message, uuid?: string): Promise<SignedMessage> {
    return this.serial(() => {
      const earlier = uuid ? this.store.messageByUuid(uuid) : undefined;
      if (earlier) return signed(JSON.parse(earlier.body) as Message, earlier.cid);
      const sender = actorIdOf(input.From);
      const account = this.store.account(sender);
      if (!account) throw appError(`mpool push: sender ${input.From} is not an account on this devnet`);
      if (account.balance < BigInt(input.Value)) {
        throw appError(`mpool push: not enough funds in ${input.From}: balance ${account.balance} < value ${input.Value}`);
      }
      const msg: Message = {
        Version: 0,
        To: idAddress(actorIdOf(input.To)),
        From: idAddress(sender),
        Nonce: this.store.nextNonce(sender),
        Value: input.Value,
        GasLimit: input.GasLimit || GAS_LIMIT,
        GasFeeCap: input.GasFeeCap === '0' ? '100000' : input.GasFeeCap,
        GasPremium: input.GasPremium === '0' ? '1000' : input.GasPremium,
        Method: input.Method,
        Params: input.Params ?? '',
      };
      const cid = messageCid(msg);
      this.store.insertMessage({ cid, uuid: uuid ?? null, sender, nonce: msg.Nonce, body: JSON.stringify(msg), pushed_at: Date.now() });
      return signed(msg, cid);
    });
  }

  searchMessage(cid: CidJson, tsk: TipSetKey, lookbackLimit: number): MsgLookup | null {
    const at = this.resolve(tsk);
    const row = this.store.message(cid['/']);
    if (!row) throw appError(`failed to load message: ${cid['/']} is not known to this devnet`);
    if (row.height === null || row.height > at.height) return null;
    if (lookbackLimit >= 0 && row.height < at.height - lookbackLimit) return null;
    return this.lookup(row);
  }

  private lookup(row: MessageRow): MsgLookup {
    const tipset = this.store.tipsetAt(row.height as number) as TipsetRow;
    return {
      Message: cidJson(row.cid),
      Receipt: { ExitCode: row.exit_code as number, Return: row.ret, GasUsed: row.gas_used as number, EventsRoot: null },
      ReturnDec: null,
      TipSet: [cidJson(tipset.cid)],
      Height: tipset.height,
    };
  }

  /** Resolves once the message has `confidence` tipsets on top of the one that executed it. */
  waitMessage(cid: CidJson, confidence: number): Promise<MsgLookup> {
    if (!this.store.message(cid['/'])) return Promise.reject(appError(`message ${cid['/']} is not in the pool or on chain`));
    return new Promise((resolve) => {
      const check = (): boolean => {
        const row = this.store.message(cid['/']);
        if (!row || row.height === null || this.head().height < row.height + confidence) return false;
        this.off('tipset', check);
        resolve(this.lookup(row));
        return true;
      };
      if (!check()) this.on('tipset', check);
    });
  }
}

/** The devnet signs nothing: its messages carry an empty secp256k1 signature. */
function signed(msg: Message, cid: string): SignedMessage {
  return { Message: { ...msg, CID: cidJson(cid) }, Signature: { Type: 1, Data: '' }, CID: cidJson(cid) };
}

function paramsOf(msg: Message): Uint8Array {
  return new Uint8Array(Buffer.from(msg.Params ?? '', 'base64'));
}

function parseId(address: string): number {
  try {
    return actorIdOf(address);
  } catch (err) {
    throw new RpcError(RPC_CODES.InvalidParams, (err as Error).message);
  }
}

function appError(message: string): RpcError {
  return new RpcError(RPC_CODES.Application, message);
}

function verifyKey(req: VerifyRequest): string {
  const h = blake2b.create({ dkLen: 32 });
  h.update(new TextEncoder().encode(JSON.stringify(req.inputs, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))));
  h.update(req.proof);
  return `${req.kind}:${Buffer.from(h.digest()).toString('hex')}`;
}
