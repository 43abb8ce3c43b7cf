import type { LotusClient } from '../../chain/client.js';
import type { MinerFacts } from '../commitment/miners.js';

/** Pushes a miner method call from the miner's configured sender; returns the message CID. */
export async function pushMinerMessage(lotus: LotusClient, miner: MinerFacts, method: number, params: Uint8Array): Promise<string> {
  const signed = await lotus.mpoolPushMessage({
    To: miner.address,
    From: miner.sender,
    Value: '0',
    Method: method,
    Params: Buffer.from(params).toString('base64'),
  });
  return signed.CID['/'];
}
