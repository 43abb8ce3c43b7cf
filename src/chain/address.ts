import { encode as encodeCbor } from '@ipld/dag-cbor';
import { fromString, type IAddress } from 'iso-filecoin/address';

export type { IAddress };

/** Parses any Filecoin address (f/t, protocols 0–4), naming the bad text on failure. */
export function parseAddress(text: string): IAddress {
  try {
    return fromString(text.trim());
  } catch (err) {
    throw new Error(`invalid Filecoin address "${text}": ${(err as Error).message}`);
  }
}

/** The actor id of an ID address (`t01000` → 1000); any other protocol is refused. */
export function actorIdOf(text: string): number {
  const addr = parseAddress(text);
  if (addr.protocol !== 0 || addr.id === undefined) {
    throw new Error(`"${text}" is not an ID address: expected t0<id>, e.g. t01000`);
  }
  const id = Number(addr.id);
  if (!Number.isSafeInteger(id)) throw new Error(`actor id in "${text}" is too large`);
  return id;
}

export function idAddress(id: number, network: 'mainnet' | 'testnet' = 'testnet'): string {
  if (!Number.isSafeInteger(id) || id < 0) throw new Error(`invalid actor id ${id}: expected a non-negative integer`);
  return `${network === 'mainnet' ? 'f' : 't'}0${id}`;
}

export function addressBytes(text: string): Uint8Array {
  return parseAddress(text).toBytes();
}

/**
 * The entropy the miner actor mixes into seal randomness: the CBOR encoding (a byte string) of the
 * miner's ID address bytes. For t01000 that is `43 00 e8 07`.
 */
export function minerEntropy(minerId: number): Uint8Array {
  return encodeCbor(addressBytes(idAddress(minerId)));
}
