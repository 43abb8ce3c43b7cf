import { z } from 'zod';
import { sealProofForSize } from '../core/proofTypes.js';
import { method, type MethodDef } from '../core/rpc/server.js';
import { Base64, BigIntString, CidJson, Epoch, Message, MessageSendSpec, SectorPreCommitInfo, TipSetKey, Uint } from '../chain/types.js';
import type { DevnetChain } from './chain.js';
import { initialPledge, preCommitDeposit } from './minerActor.js';

const AddressParam = z.string().min(2);
const bytesOf = (b64: string): Uint8Array => new Uint8Array(Buffer.from(b64, 'base64'));

/**
 * The Lotus full-node v1 methods the devnet serves (`Filecoin.*`), with Lotus' param order and JSON
 * shapes, plus the devnet-only admin namespace `Devnet.*`.
 */
export function devnetMethods(chain: DevnetChain): Record<string, MethodDef> {
  const lotus: Record<string, MethodDef> = {
    ChainHead: method([], () => chain.tipsetJson(chain.head())),
    ChainGetTipSet: method([TipSetKey], (tsk) => chain.tipsetJson(chain.resolve(tsk))),
    ChainGetTipSetByHeight: method([Epoch, TipSetKey], (h, tsk) => chain.tipsetJson(chain.tipsetAtHeight(h, tsk))),
    StateNetworkName: method([], () => chain.config.chain.network_name),
    StateNetworkVersion: method([TipSetKey], () => chain.config.chain.network_version),
    StateGetNetworkParams: method([], () => ({
      NetworkName: chain.config.chain.network_name,
      BlockDelaySecs: Math.round(chain.config.chain.block_time / 1000),
      ConsensusMinerMinPower: '2048',
      SupportedProofTypes: [...new Set(chain.config.miners.map((m) => sealProofForSize(m.sectorSize).id))],
      PreCommitChallengeDelay: chain.config.chain.pre_commit_challenge_delay,
      ForkUpgradeParams: {},
      Eip155ChainID: 31415926,
    })),
    StateGetRandomnessFromTickets: method([Uint, Epoch, Base64.nullable(), TipSetKey], (tag, epoch, entropy, tsk) =>
      Buffer.from(chain.randomness('ticket', tag, epoch, bytesOf(entropy ?? ''), tsk)).toString('base64'),
    ),
    StateGetRandomnessFromBeacon: method([Uint, Epoch, Base64.nullable(), TipSetKey], (tag, epoch, entropy, tsk) =>
      Buffer.from(chain.randomness('beacon', tag, epoch, bytesOf(entropy ?? ''), tsk)).toString('base64'),
    ),
    StateMinerInfo: method([AddressParam, TipSetKey], (addr) => chain.minerInfo(addr)),
    StateLookupID: method([AddressParam, TipSetKey], (addr) => chain.lookupId(addr)),
    StateGetActor: method([AddressParam, TipSetKey], (addr) => chain.actor(addr)),
    StateMinerAvailableBalance: method([AddressParam, TipSetKey], (addr) => chain.availableBalance(addr).toString()),
    StateMinerSectorAllocated: method([AddressParam, Uint, TipSetKey], (addr, n, tsk) => chain.sectorAllocated(addr, n, tsk)),
    StateSectorPreCommitInfo: method([AddressParam, Uint, TipSetKey], (addr, n, tsk) => chain.preCommitInfo(addr, n, tsk)),
    StateSectorGetInfo: method([AddressParam, Uint, TipSetKey], (addr, n, tsk) => chain.sectorInfo(addr, n, tsk)),
    StateSectorPartition: method([AddressParam, Uint, TipSetKey], (addr, n, tsk) => chain.sectorPartition(addr, n, tsk)),
    StateMinerProvingDeadline: method([AddressParam, TipSetKey], (addr, tsk) => chain.provingDeadline(addr, tsk)),
    StateMinerDeadlines: method([AddressParam, TipSetKey], (addr, tsk) => chain.deadlines(addr, tsk)),
    StateMinerPartitions: method([AddressParam, Uint, TipSetKey], (addr, deadline) => chain.partitions(addr, deadline)),
    StateMinerFaults: method([AddressParam, TipSetKey], (addr) => chain.faultySectors(addr, false)),
    StateMinerRecoveries: method([AddressParam, TipSetKey], (addr) => chain.faultySectors(addr, true)),
    StateMinerPreCommitDepositForPower: method([AddressParam, SectorPreCommitInfo, TipSetKey], (addr) =>
      preCommitDeposit(chain.minerInfo(addr).SectorSize).toString(),
    ),
    StateMinerInitialPledgeForSector: method([Epoch, Uint, BigIntString, TipSetKey], (_duration, sectorSize) =>
      initialPledge(sectorSize).toString(),
    ),
    MpoolPushMessage: method([Message, MessageSendSpec], (msg, spec) => chain.pushMessage(msg, spec?.MsgUuid), 'sign'),
    StateSearchMsg: method([TipSetKey, CidJson, z.number().int(), z.boolean()], (tsk, cid, limit) => chain.searchMessage(cid, tsk, limit)),
    StateWaitMsg: method([CidJson, Uint, z.number().int(), z.boolean()], (cid, confidence) => chain.waitMessage(cid, confidence)),
  };
  const admin: Record<string, MethodDef> = {
    /** Produces `count` tipsets now (1 by default) and returns the new head; how tests drive a stopped clock. */
    Mine: method(
      [z.number().int().min(1).max(10_000).optional()],
      async (count) => {
        for (let i = 0; i < (count ?? 1); i++) await chain.mine();
        return chain.tipsetJson(chain.head());
      },
      'admin',
    ),
  };
  return {
    ...Object.fromEntries(Object.entries(lotus).map(([name, def]) => [`Filecoin.${name}`, def])),
    ...Object.fromEntries(Object.entries(admin).map(([name, def]) => [`Devnet.${name}`, def])),
  };
}
