import { isIP } from 'node:net';
import { z } from 'zod';
import { joinHostPort } from '../core/rpc/server.js';
import { RpcClient } from '../core/rpc/client.js';
import { RpcTransportError } from '../core/rpc/errors.js';
import { ThreadEvent, WORKER_CONTROL_PORT, WorkerControlMethods, WorkerThreadInfo } from '../core/wire/workerControl.js';

const HOST_PORT = /^(\[[^\]]+\]|[^:]+):\d+$/;

/** `host:port`, a bare host or IP (control port 17890), or a URL, as the URL of a worker's control API. */
export function workerControlUrl(dest: string): string {
  if (/^https?:\/\//.test(dest)) return dest;
  if (HOST_PORT.test(dest)) return `http://${dest}/`;
  if (isIP(dest) !== 0 || /^[\w.-]+$/.test(dest)) return `http://${joinHostPort(dest, WORKER_CONTROL_PORT)}/`;
  throw new Error(`unable to parse "${dest}" as a worker address: expected host:port or a host`);
}

/** Whether an operator's argument is plainly an address (with a port, an IP, or a URL), not a worker name. */
export const isWorkerAddress = (text: string): boolean => /^https?:\/\//.test(text) || HOST_PORT.test(text) || isIP(text) !== 0;

/** The `VenusWorker.*` control API of one worker. */
export class WorkerControl {
  private readonly rpc: RpcClient;

  constructor(
    readonly name: string,
    url: string,
    token?: string,
  ) {
    this.rpc = new RpcClient({ url, ...(token ? { token } : {}), timeoutMs: 15_000 });
  }

  private async call<T>(method: string, params: unknown[], schema: z.ZodType<T>): Promise<T> {
    try {
      return await this.rpc.call(method, params, { schema });
    } catch (err) {
      if (err instanceof RpcTransportError) throw new Error(`worker ${this.name} at ${this.rpc.url} is unreachable: ${err.message}`);
      throw err;
    }
  }

  list(): Promise<WorkerThreadInfo[]> {
    return this.call(WorkerControlMethods.list, [], z.array(WorkerThreadInfo));
  }

  pause(index: number): Promise<boolean> {
    return this.call(WorkerControlMethods.pause, [index], z.boolean());
  }

  resume(index: number, state: string | null): Promise<boolean> {
    return this.call(WorkerControlMethods.resume, [index, state], z.boolean());
  }

  log(index: number, limit: number): Promise<ThreadEvent[]> {
    return this.call(WorkerControlMethods.log, [index, limit], z.array(ThreadEvent));
  }

  /** How many threads will finish their current sector and take no new one; null = all of them. */
  drain(index: number | null): Promise<number> {
    return this.call(WorkerControlMethods.drain, [index], z.number().int());
  }
}
