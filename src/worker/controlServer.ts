import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../core/log.js';
import { RPC_CODES, RpcError } from '../core/rpc/errors.js';
import { method, RpcServer, serveHttp, type Caller, type MethodDef } from '../core/rpc/server.js';
import { BOUNDS, labelString, truncateMiddle } from '../core/wire/bounds.js';
import { THREAD_LOG_ERROR_MAX, THREAD_LOG_MAX, WorkerControlMethods } from '../core/wire/workerControl.js';
import type { ThreadController } from './controller.js';
import type { WorkerConfig } from './config.js';

const index = z.number().int();

/** Replies stay bounded whatever a processor wrote into an error: the worker's own store keeps it whole. */
const cut = (error: string | null, max: number): string | null => (error === null ? null : truncateMiddle(error, max));

/**
 * Checks a bearer token against the configured one. Digests of equal length let the comparison take the
 * same time whatever the guess, so the token cannot be found byte by byte.
 */
function tokenCheck(expected: string): (token: string | undefined) => Caller {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  const want = digest(expected);
  return (token) => {
    if (token === undefined) throw new Error('this worker requires its rpc_server.token as bearer token');
    if (!timingSafeEqual(digest(token), want)) throw new Error('wrong token');
    return { perm: 'admin', credential: 'rpc_server.token', worker: null };
  };
}

/** The `VenusWorker.*` method table (exported so tools that enumerate the API, like the fuzz suite, see every method). */
export function controlMethods(controller: ThreadController, version: string): Record<string, MethodDef> {
  // The index is checked here so that every caller gets damocles' InvalidParams answer for it.
  const thread = (i: number): number => {
    if (!controller.list().some((t) => t.index === i)) throw new RpcError(RPC_CODES.InvalidParams, `worker #${i} not found`);
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
    [WorkerControlMethods.version]: method([], () => version),
  };
}

/**
 * Serves the `VenusWorker.*` control API (JSON-RPC at `/` and `/rpc/v0`). Without a token every caller
 * may act: the config only allows that on a loopback address.
 */
export async function startControlServer(
  cfg: WorkerConfig['worker']['rpc_server'],
  controller: ThreadController,
  version: string,
  log: Logger,
): Promise<{ url: string; close(): Promise<void> }> {
  const rpc = new RpcServer({
    maxBodyBytes: 64 * 1024,
    ...(cfg.token === null ? {} : { authorize: tokenCheck(cfg.token) }),
    onError: (name, err) => log.warn({ err, method: name }, 'control call refused'),
  });
  rpc.register(controlMethods(controller, version));
  const host = cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host;
  const http = await serveHttp(
    `${host}:${cfg.port}`,
    { '/': (req, res) => rpc.handle(req, res), '/rpc/v0': (req, res) => rpc.handle(req, res) },
    (err) => log.error({ err }, 'control http'),
  );
  log.info({ url: http.url, auth: cfg.token !== null }, 'control API up');
  return { url: http.url, close: http.close };
}
