import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RpcClient } from '../core/rpc/client.js';

/** A client for the manager whose home is `home`, using the address and admin token the daemon wrote there. */
export function managerClient(home: string): RpcClient {
  const read = (name: string): string => {
    try {
      return readFileSync(join(home, name), 'utf8').trim();
    } catch {
      throw new Error(`cannot read ${join(home, name)}: is the manager daemon running with --home ${home}?`);
    }
  };
  return new RpcClient({ url: `${read('api')}/rpc/v0`, token: read('token'), timeoutMs: 60_000 });
}
