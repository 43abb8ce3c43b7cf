import { managerClient } from './managerClient.js';
import { isWorkerAddress, WorkerControl, workerControlUrl } from './workerClient.js';

/** One row of `SealFleet.WorkerList`. */
export interface WorkerRow {
  Name: string;
  Dest: string;
  Version: string;
  Summary: { Threads: number; Empty: number; Paused: number; Running: number; Waiting: number; Errors: number };
  LastPing: number;
}

/** How many known names a refusal lists. */
const KNOWN_SHOWN = 20;

/**
 * A worker by the name (or Dest) of its pings, called with a control token the manager signs for that
 * worker alone (`SealFleet.AuthControlToken`, two minutes): never the operator's admin token, which a worker
 * advertising someone else's address would otherwise receive. An address no worker pinged from (with a
 * port, an IP, or a URL) is called with `$SEALFLEET_WORKER_TOKEN` if set: this manager has no say over a
 * worker that does not work for it. Anything else is refused with the names this manager knows.
 */
export async function resolveWorker(home: string, nameOrAddr: string): Promise<WorkerControl> {
  const manager = managerClient(home);
  const found = await manager.call<{ Name: string; Dest: string } | null>('SealFleet.WorkerFind', [nameOrAddr]);
  if (found) {
    const token = await manager.call<string>('SealFleet.AuthControlToken', [found.Name]);
    return new WorkerControl(found.Name, workerControlUrl(found.Dest), token);
  }
  if (isWorkerAddress(nameOrAddr)) return new WorkerControl(nameOrAddr, workerControlUrl(nameOrAddr), process.env.SEALFLEET_WORKER_TOKEN || undefined);
  const known = (await manager.call<WorkerRow[]>('SealFleet.WorkerList', [{ Limit: KNOWN_SHOWN + 1 }])).map((w) => w.Name);
  const listed = known.length === 0 ? 'none' : `${known.slice(0, KNOWN_SHOWN).join(', ')}${known.length > KNOWN_SHOWN ? ', …' : ''}`;
  throw new Error(`no worker named "${nameOrAddr}" has pinged this manager; known workers: ${listed}`);
}
