import { z } from 'zod';
import { RpcClient } from '../core/rpc/client.js';
import {
  Actor,
  Address,
  BigIntString,
  BitFieldJson,
  Deadline,
  DeadlineInfo,
  MessageSendSpec,
  MinerInfo,
  MsgLookup,
  NetworkParams,
  Partition,
  SectorLocation,
  SectorOnChainInfo,
  SectorPreCommitInfo,
  SectorPreCommitOnChainInfo,
  SignedMessage,
  TipSet,
  type CidJson,
  type Message,
  type TipSetKey,
} from './types.js';

/** A message to send; the node fills nonce, gas and signature (`MpoolPushMessage`). */
export type OutgoingMessage = Pick<Message, 'To' | 'From' | 'Value' | 'Method' | 'Params'> &
  Partial<Pick<Message, 'GasLimit' | 'GasFeeCap' | 'GasPremium'>>;

const HEAD: TipSetKey = null;

/**
 * The typed subset of the Lotus full-node JSON-RPC v1 API the manager uses. Every result is validated,
 * since the node on the other side may be any Lotus-compatible implementation.
 */
export class LotusClient {
  readonly rpc: RpcClient;

  constructor(opts: { url: string; token?: string; timeoutMs?: number }) {
    this.rpc = new RpcClient(opts);
  }

  private call<T>(method: string, params: unknown[], schema: z.ZodType<T>, timeoutMs?: number): Promise<T> {
    return this.rpc.call(`Filecoin.${method}`, params, timeoutMs === undefined ? { schema } : { schema, timeoutMs });
  }

  chainHead(): Promise<TipSet> {
    return this.call('ChainHead', [], TipSet);
  }

  chainGetTipSet(tsk: CidJson[]): Promise<TipSet> {
    return this.call('ChainGetTipSet', [tsk], TipSet);
  }

  chainGetTipSetByHeight(height: number, tsk: TipSetKey = HEAD): Promise<TipSet> {
    return this.call('ChainGetTipSetByHeight', [height, tsk], TipSet);
  }

  stateNetworkName(): Promise<string> {
    return this.call('StateNetworkName', [], z.string());
  }

  stateNetworkVersion(tsk: TipSetKey = HEAD): Promise<number> {
    return this.call('StateNetworkVersion', [tsk], z.number().int());
  }

  stateGetNetworkParams(): Promise<NetworkParams> {
    return this.call('StateGetNetworkParams', [], NetworkParams);
  }

  /** Ticket randomness (`SealRandomness` for PC1 tickets); `entropy` is usually the miner's CBOR address. */
  async stateGetRandomnessFromTickets(tag: number, epoch: number, entropy: Uint8Array, tsk: TipSetKey = HEAD): Promise<Uint8Array> {
    const b64 = await this.call('StateGetRandomnessFromTickets', [tag, epoch, Buffer.from(entropy).toString('base64'), tsk], z.string());
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }

  /** Beacon randomness (`InteractiveSealChallengeSeed` for the C1 seed, `WindowedPoStChallengeSeed` at a deadline's challenge epoch). */
  async stateGetRandomnessFromBeacon(tag: number, epoch: number, entropy: Uint8Array, tsk: TipSetKey = HEAD): Promise<Uint8Array> {
    const b64 = await this.call('StateGetRandomnessFromBeacon', [tag, epoch, Buffer.from(entropy).toString('base64'), tsk], z.string());
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }

  stateMinerInfo(miner: string, tsk: TipSetKey = HEAD): Promise<MinerInfo> {
    return this.call('StateMinerInfo', [miner, tsk], MinerInfo);
  }

  stateLookupID(address: string, tsk: TipSetKey = HEAD): Promise<string> {
    return this.call('StateLookupID', [address, tsk], Address);
  }

  stateGetActor(address: string, tsk: TipSetKey = HEAD): Promise<Actor> {
    return this.call('StateGetActor', [address, tsk], Actor);
  }

  stateMinerSectorAllocated(miner: string, sector: number, tsk: TipSetKey = HEAD): Promise<boolean> {
    return this.call('StateMinerSectorAllocated', [miner, sector, tsk], z.boolean());
  }

  stateSectorPreCommitInfo(miner: string, sector: number, tsk: TipSetKey = HEAD): Promise<SectorPreCommitOnChainInfo | null> {
    return this.call('StateSectorPreCommitInfo', [miner, sector, tsk], SectorPreCommitOnChainInfo.nullable());
  }

  stateSectorGetInfo(miner: string, sector: number, tsk: TipSetKey = HEAD): Promise<SectorOnChainInfo | null> {
    return this.call('StateSectorGetInfo', [miner, sector, tsk], SectorOnChainInfo.nullable());
  }

  stateSectorPartition(miner: string, sector: number, tsk: TipSetKey = HEAD): Promise<SectorLocation> {
    return this.call('StateSectorPartition', [miner, sector, tsk], SectorLocation);
  }

  /** The miner's current deadline, or the next one when the current has closed (Lotus' `NextNotElapsed`). */
  stateMinerProvingDeadline(miner: string, tsk: TipSetKey = HEAD): Promise<DeadlineInfo> {
    return this.call('StateMinerProvingDeadline', [miner, tsk], DeadlineInfo);
  }

  stateMinerDeadlines(miner: string, tsk: TipSetKey = HEAD): Promise<Deadline[]> {
    return this.call('StateMinerDeadlines', [miner, tsk], z.array(Deadline));
  }

  stateMinerPartitions(miner: string, deadline: number, tsk: TipSetKey = HEAD): Promise<Partition[]> {
    return this.call('StateMinerPartitions', [miner, deadline, tsk], z.array(Partition));
  }

  /** Every faulty sector of the miner, as a bitfield in Lotus JSON (see chain/bitfield.ts `fromRunsJson`). */
  stateMinerFaults(miner: string, tsk: TipSetKey = HEAD): Promise<BitFieldJson> {
    return this.call('StateMinerFaults', [miner, tsk], BitFieldJson);
  }

  stateMinerRecoveries(miner: string, tsk: TipSetKey = HEAD): Promise<BitFieldJson> {
    return this.call('StateMinerRecoveries', [miner, tsk], BitFieldJson);
  }

  async stateMinerPreCommitDepositForPower(miner: string, info: SectorPreCommitInfo, tsk: TipSetKey = HEAD): Promise<bigint> {
    return BigInt(await this.call('StateMinerPreCommitDepositForPower', [miner, info, tsk], BigIntString));
  }

  async stateMinerInitialPledgeForSector(
    durationEpochs: number,
    sectorSize: number,
    verifiedSize: bigint,
    tsk: TipSetKey = HEAD,
  ): Promise<bigint> {
    const params = [durationEpochs, sectorSize, verifiedSize.toString(), tsk];
    return BigInt(await this.call('StateMinerInitialPledgeForSector', params, BigIntString));
  }

  async stateMinerAvailableBalance(miner: string, tsk: TipSetKey = HEAD): Promise<bigint> {
    return BigInt(await this.call('StateMinerAvailableBalance', [miner, tsk], BigIntString));
  }

  /** The node assigns nonce and gas, signs with its wallet and adds the message to its pool. */
  mpoolPushMessage(msg: OutgoingMessage, spec: MessageSendSpec = null): Promise<SignedMessage> {
    const full = { Version: 0, Nonce: 0, GasLimit: 0, GasFeeCap: '0', GasPremium: '0', ...msg };
    return this.call('MpoolPushMessage', [full, spec], SignedMessage);
  }

  /** Looks a message up without waiting; null while it is not on chain (the restart-safe way to poll). */
  stateSearchMsg(cid: CidJson, lookbackLimit = -1, allowReplaced = true, tsk: TipSetKey = HEAD): Promise<MsgLookup | null> {
    return this.call('StateSearchMsg', [tsk, cid, lookbackLimit, allowReplaced], MsgLookup.nullable());
  }

  /** Waits until the message has `confidence` tipsets on top of it; the call's timeout bounds the wait. */
  stateWaitMsg(cid: CidJson, confidence: number, timeoutMs: number, lookbackLimit = -1, allowReplaced = true): Promise<MsgLookup> {
    return this.call('StateWaitMsg', [cid, confidence, lookbackLimit, allowReplaced], MsgLookup, timeoutMs);
  }
}
