import { Message as IsoMessage } from 'iso-filecoin/message';
import { CID } from 'multiformats/cid';
import type { Message } from './types.js';

/** The message CID Lotus computes: CIDv1 dag-cbor, blake2b-256 over the 10-field CBOR message. */
export function messageCid(msg: Message): string {
  return CID.decode(IsoMessage.fromLotus({ ...msg, Params: msg.Params ?? '' }).cidBytes()).toString();
}
