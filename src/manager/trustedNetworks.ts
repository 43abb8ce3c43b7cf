import { BlockList, isIP } from 'node:net';
import type { Authorize, Caller } from '../core/rpc/server.js';

/** One entry of `[api] trusted_networks`: an IPv4 or IPv6 network in CIDR form. */
export interface Network {
  /** As the operator wrote it (trimmed): what logs and credentials show. */
  text: string;
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses `10.1.0.0/16` or `fd00::/8`; the error names the text and what was expected. */
export function parseNetwork(text: string): Network {
  const bad = (why: string): never => {
    throw new Error(`"${text}" is not a network: ${why}; expected CIDR form like "10.1.0.0/16" or "fd00::/8"`);
  };
  const trimmed = text.trim();
  const slash = trimmed.lastIndexOf('/');
  if (slash < 0) return bad('no prefix length (add /32 for one IPv4 address, /128 for one IPv6 address)');
  const address = trimmed.slice(0, slash);
  const prefixText = trimmed.slice(slash + 1);
  const version = isIP(address);
  if (version === 0) return bad(`"${address}" is not an IPv4 or IPv6 address`);
  const family = version === 4 ? 'ipv4' : 'ipv6';
  const max = version === 4 ? 32 : 128;
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return bad(`prefix length "${prefixText}" is not a whole number from 0 to ${max}`);
  return { text: trimmed, address, prefix, family };
}

/**
 * Below these prefix lengths a network spans more than any sealing network needs (a /7 of IPv4 is 33
 * million addresses; 0.0.0.0/0 and ::/0 are the whole internet): worth a warning at start.
 */
const WIDE_BELOW = { ipv4: 8, ipv6: 8 } as const;

export const isWide = (n: Network): boolean => n.prefix < WIDE_BELOW[n.family];

/** A source address as a credential shows it: an IPv4-mapped IPv6 address as the IPv4 address it maps. */
const plainAddress = (address: string): string => address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

/**
 * `[api] trusted_networks`: the networks whose hosts may call the manager without a token, as a worker.
 * Damocles workers send no Authorization header at all; this is the one way to admit them, and it is off
 * until the operator lists a network. Matching uses node's BlockList, which also matches IPv4-mapped IPv6
 * source addresses (`::ffff:10.1.2.3`, what a dual-stack listener sees) against IPv4 networks.
 */
export class TrustedNetworks {
  private readonly lists: { network: Network; list: BlockList }[];

  constructor(readonly networks: readonly Network[]) {
    this.lists = networks.map((network) => {
      const list = new BlockList();
      list.addSubnet(network.address, network.prefix, network.family);
      return { network, list };
    });
  }

  /** The first listed network holding `address` (a socket's remote address), or null. */
  match(address: string | undefined): Network | null {
    if (address === undefined) return null;
    const version = isIP(address);
    if (version === 0) return null;
    const family = version === 4 ? 'ipv4' : 'ipv6';
    return this.lists.find(({ list }) => list.check(address, family))?.network ?? null;
  }

  /**
   * The manager's authorize hook: a call with a token (any Authorization header) is judged by `byToken`
   * alone, whatever its source; a call without one from a trusted network is a worker (`write`, never
   * admin) whose credential is its source address, so the worker name it pings with is bound to that
   * address (see WorkerRegistry). Anything else is refused with how to get in.
   */
  authorize(byToken: (token: string | undefined) => Promise<Caller>): Authorize {
    return async (token, source) => {
      if (token !== undefined) return byToken(token);
      if (this.match(source)) return { perm: 'write', credential: `trusted:${plainAddress(source as string)}`, worker: null };
      const from = source === undefined ? '' : ` (this call came from ${plainAddress(source)})`;
      throw new Error(
        `no bearer token: send "Authorization: Bearer <token>" (sealfleet-manager auth create-token --perm write --worker <name>), ` +
          `or, for workers that send no token (damocles workers), list their network in [api] trusted_networks of manager.toml${from}`,
      );
    };
  }
}
