import { z } from 'zod';
import type { Logger } from '../core/log.js';
import { RPC_CODES, RpcError } from '../core/rpc/errors.js';
import { joinHostPort, method, RpcServer, serveHttp, type MethodDef } from '../core/rpc/server.js';
import { BOUNDS, labelString, truncateMiddle } from '../core/wire/bounds.js';
import { THREAD_LOG_ERROR_MAX, THREAD_LOG_MAX, WorkerControlMethods } from '../core/wire/workerControl.js';
import type { ThreadController } from './controller.js';
import { isLoopback } from '../core/rpc/origin.js';
import type { WorkerConfig } from './config.js';
import { ControlAuth, type ManagerTokenCheck } from './controlAuth.js';

const index = z.number().int();

/** Replies stay bounded whatever a processor wrote into an error: the worker's own store keeps it whole. */
const cut = (error: string | null, max: number): string | null => (error === null ? null : truncateMiddle(error, max));

/** The `VenusWorker.*` method table (exported so tools that enumerate the API, like the fuzz suite, see every method). */
export function controlMethods(controller: ThreadController, about: { name: string; version: string }): Record<string, MethodDef> {
  // The index is checked here so that every caller gets damocles' InvalidParams answer for it.
  const thread = (i: number): number => {
    const threads = controller.list();
    if (!threads.some((t) => t.index === i)) throw new RpcError(RPC_CODES.InvalidParams, threadNotFound(i, about.name, threads.map((t) => t.index)));
    return i;
  };
  return {
    [WorkerControlMethods.list]: method([], () => controller.list().map((t) => ({ ...t, last_error: cut(t.last_error, BOUNDS.text) }))),
    [WorkerControlMethods.pause]: method([index], (i) => controller.pause(thread(i)), 'write'),
    [WorkerControlMethods.resume]: method(
      [index, labelString.nullable().optional()],
      (i, state) => controller.resume(thread(i), state ?? null),
      'write',
    ),
    [WorkerControlMethods.drain]: method([index.nullable().optional()], (i) => controller.drain(i == null ? null : thread(i)), 'write'),
    [WorkerControlMethods.log]: method([index, z.number().int().min(1).max(THREAD_LOG_MAX).optional()], (i, limit) =>
      controller.log(thread(i), limit ?? 50).map((e) => ({ ...e, error: cut(e.error, THREAD_LOG_ERROR_MAX) })),
    ),
    [WorkerControlMethods.version]: method([], () => about.version),
  };
}

/** The answer to a thread index the worker does not have, from the control API and the worker itself alike. */
/** Indexes are those of the config's threads: unseal and wdpost threads, which do not run, leave gaps. */
export function threadNotFound(index: number, worker: string, indexes: readonly number[]): string {
  const contiguous = indexes.every((i, n) => i === n);
  const which =
    indexes.length === 0 ? 'no threads'
    : indexes.length === 1 ? `thread ${indexes[0]}`
    : contiguous ? `threads 0–${indexes.length - 1}`
    : `threads ${indexes.join(', ')}`;
  return `thread #${index} not found: worker ${worker} has ${which}`;
}

/**
 * Serves the `VenusWorker.*` control API (JSON-RPC at `/` and `/rpc/v0`). Open to every caller only on a
 * loopback address without `rpc_server.token` (the local CLI's case); otherwise every call, from any source
 * (loopback too: in a container, loopback is not only ours), needs a token that `ControlAuth` accepts.
 */
export async function startControlServer(
  cfg: Pick<WorkerConfig['worker']['rpc_server'], 'host' | 'port' | 'token'>,
  controller: ThreadController,
  about: { name: string; version: string },
  log: Logger,
  checkWithManager?: ManagerTokenCheck,
): Promise<{ url: string; close(): Promise<void> }> {
  const open = cfg.token === null && isLoopback(cfg.host);
  const auth = open ? null : new ControlAuth({ name: about.name, localToken: cfg.token, ...(checkWithManager ? { checkWithManager } : {}) });
  const rpc = new RpcServer({
    maxBodyBytes: 64 * 1024,
    ...(auth ? { authorize: auth.authorize } : {}),
    onError: (name, err) => log.warn({ err, method: name }, 'control call refused'),
  });
  rpc.register(controlMethods(controller, about));
  const http = await serveHttp(
    joinHostPort(cfg.host, cfg.port),
    { '/': (req, res) => rpc.handle(req, res), '/rpc/v0': (req, res) => rpc.handle(req, res) },
    (err) => log.error({ err }, 'control http'),
  );
  log.info({ url: http.url, auth: open ? 'none (loopback)' : cfg.token === null ? 'manager tokens' : 'rpc_server.token and manager tokens' }, 'control API up');
  return { url: http.url, close: http.close };
}
