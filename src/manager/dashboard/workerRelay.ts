import { WorkerControl, workerControlUrl } from '../../cli/workerClient.js';
import { RPC_CODES, RpcError } from '../../core/rpc/errors.js';
import { CONTROL_TOKEN_LIFETIME_MS, type TokenAuthority } from '../auth.js';
import type { WorkerPingRow, WorkerRegistry } from '../workers/registry.js';

/**
 * Calls a worker's control API (`VenusWorker.*`) for the dashboard, as `util worker …` does: at the address
 * of its pings, with a short-lived control token signed for that worker alone (never the caller's token).
 * Failures come back as application errors naming the worker, so the page can show them.
 */
export class WorkerRelay {
  constructor(
    private readonly workers: WorkerRegistry,
    private readonly authority: TokenAuthority,
  ) {}

  async find(name: string): Promise<WorkerPingRow> {
    const row = await this.workers.find(name);
    if (!row) throw new RpcError(RPC_CODES.Application, `no worker named "${name}" has pinged this manager`);
    return row;
  }

  async call<T>(worker: WorkerPingRow, fn: (control: WorkerControl) => Promise<T>): Promise<T> {
    const token = await this.authority.sign('read', { control: worker.name, expiresInMs: CONTROL_TOKEN_LIFETIME_MS });
    try {
      return await fn(new WorkerControl(worker.name, workerControlUrl(worker.dest), token));
    } catch (err) {
      const message = (err as Error).message;
      throw new RpcError(RPC_CODES.Application, message.startsWith(`worker ${worker.name} `) ? message : `worker ${worker.name}: ${message}`);
    }
  }

  /** `call`, given up after `ms` (the worker may still act on it): for views that must not wait on one worker. */
  within<T>(ms: number, worker: WorkerPingRow, fn: (control: WorkerControl) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RpcError(RPC_CODES.Application, `worker ${worker.name} did not answer within ${ms} ms`)), ms);
    });
    return Promise.race([this.call(worker, fn), late]).finally(() => clearTimeout(timer));
  }
}
