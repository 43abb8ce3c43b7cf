import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { isSectorSize, sealProofForSize, type SealProofInfo, type SectorSize } from '../../core/proofTypes.js';
import { idAddress, minerEntropy } from '../../chain/address.js';
import type { LotusClient } from '../../chain/client.js';
import type { NetworkParams } from '../../chain/types.js';
import type { MinerConfig } from '../config.js';

export interface MinerFacts {
  config: MinerConfig;
  address: string;
  sectorSize: SectorSize;
  sealProof: SealProofInfo;
  /** The configured sender as an ID address, checked to be the miner's owner, worker or a control address. */
  sender: string;
  entropy: Uint8Array;
}

/**
 * What the manager needs to know about each configured miner, read from the chain once at start-up (and
 * again on demand): a miner the chain does not know, or a sender it would refuse, stops the daemon
 * with a message instead of failing every message later.
 */
export class Miners {
  private readonly facts = new Map<number, MinerFacts>();
  private params: NetworkParams | undefined;

  constructor(
    private readonly lotus: LotusClient,
    readonly configs: readonly MinerConfig[],
  ) {}

  async load(): Promise<void> {
    for (const config of this.configs) {
      const address = idAddress(config.id);
      const info = await this.lotus.stateMinerInfo(address).catch((err: unknown) => {
        throw new Error(`miner ${address} from the config: ${(err as Error).message}`);
      });
      if (!isSectorSize(info.SectorSize)) throw new Error(`miner ${address} has an unsupported sector size ${info.SectorSize}`);
      const sender = await this.lotus.stateLookupID(config.sender);
      const allowed = [info.Owner, info.Worker, ...(info.ControlAddresses ?? [])];
      const allowedIds = await Promise.all(allowed.map((a) => this.lotus.stateLookupID(a)));
      if (!allowedIds.includes(sender)) {
        throw new Error(`sender ${config.sender} of miner ${address} is not its owner, worker or a control address (${allowedIds.join(', ')})`);
      }
      this.facts.set(config.id, {
        config,
        address,
        sectorSize: info.SectorSize,
        sealProof: sealProofForSize(info.SectorSize),
        sender,
        entropy: minerEntropy(config.id),
      });
    }
    this.params = await this.lotus.stateGetNetworkParams();
  }

  all(): MinerFacts[] {
    return [...this.facts.values()];
  }

  get(miner: number): MinerFacts {
    const facts = this.facts.get(miner);
    if (!facts) throw new RpcError(RPC_CODES.Application, `miner t0${miner} is not configured on this manager`);
    return facts;
  }

  networkParams(): NetworkParams {
    if (!this.params) throw new Error('network params not loaded');
    return this.params;
  }
}
