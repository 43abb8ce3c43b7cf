import { hostname } from 'node:os';
import type { Logger } from '../core/log.js';
import { joinHostPort } from '../core/rpc/server.js';
import { isWildcard, type WorkerConfig } from './config.js';
import { localAddressTowards } from './localAddress.js';

export interface WorkerIdentity {
  /** `[worker] name`, else damocles' default: the local address that routes to the manager (else the host name). */
  name: string;
  /** The `Dest` of the next ping: an address the manager can dial to reach the control API listening on `port`. */
  dest(port: number): Promise<string>;
}

/**
 * The name and address a worker gives the manager. The address is `rpc_server.advertise` when set; else,
 * when the control API listens on every interface, the local address of a connection to the manager, found
 * again before every ping so a changed address is picked up (a failed look keeps the last one found); else
 * `rpc_server.host`. `managerUrls` lists the managers current first: the address is the one towards the
 * first that takes a connection, so a manager that is down does not decide the worker's name.
 */
export async function workerIdentity(worker: WorkerConfig['worker'], managerUrls: () => readonly string[], log: Logger): Promise<WorkerIdentity> {
  const { host, advertise } = worker.rpc_server;
  const detects = advertise === null && isWildcard(host);
  let last: string | null = null;
  const detect = async (): Promise<string | null> => {
    const failures: string[] = [];
    for (const url of managerUrls()) {
      try {
        last = await localAddressTowards(url);
        return last;
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    log.warn({ err: failures.join('; '), using: last ?? hostname() }, 'the address towards the manager is unknown; the last one found is advertised');
    return last;
  };
  const found = worker.name === null || detects ? await detect() : null;
  const name = worker.name ?? found ?? hostname();
  if (worker.name === null && found === null) log.warn({ name }, 'no [worker] name, and the address towards the manager is unknown: the host name is the worker name');
  return {
    name,
    dest: async (port) => {
      if (advertise !== null) return joinHostPort(advertise.host, advertise.port ?? port);
      if (!detects) return joinHostPort(host, port);
      return joinHostPort((await detect()) ?? hostname(), port);
    },
  };
}
