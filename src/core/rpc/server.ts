import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createJSONRPCErrorResponse,
  JSONRPCErrorException,
  JSONRPCServer,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from 'json-rpc-2.0';
import { z } from 'zod';
import { RPC_CODES, RpcError } from './errors.js';

/** Lotus-style permissions; each includes the ones before it. */
export const PERMISSIONS = ['read', 'write', 'sign', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const allows = (granted: Permission, needed: Permission): boolean =>
  PERMISSIONS.indexOf(granted) >= PERMISSIONS.indexOf(needed);

type ParamSchemas = [] | [z.ZodType, ...z.ZodType[]];
type ParamsOf<S extends ParamSchemas> = z.output<z.ZodTuple<S, null>>;

/**
 * Who is calling, as the `authorize` hook found it: the permission its token grants, a stable id of that
 * credential (never the token itself: it may be logged or stored), and the worker name a token is bound to.
 */
export interface Caller {
  perm: Permission;
  /** A fingerprint of the credential, or null when the call carried none. */
  credential: string | null;
  /** The worker this token belongs to (`auth create-token --worker <name>`), or null for an unbound token. */
  worker: string | null;
}

/** The caller of a server without an `authorize` hook: anyone may do anything. */
export const UNAUTHENTICATED_ADMIN: Caller = { perm: 'admin', credential: null, worker: null };

export interface MethodDef {
  perm: Permission;
  arity: { min: number; max: number };
  schema: z.ZodType<unknown[]>;
  handler: (params: unknown[], caller: Caller) => unknown;
}

/**
 * Declares a method with positional params. Trailing params declared `.optional()` may be left out;
 * any other count is refused with InvalidParams before the handler runs.
 */
export function method<S extends ParamSchemas, R>(
  params: S,
  handler: (...args: ParamsOf<S>) => R | Promise<R>,
  perm: Permission = 'read',
): MethodDef {
  return callerMethod(params, (_caller, ...args) => handler(...args), perm);
}

/** `method` for a handler that needs to know who calls (a worker's identity, say). */
export function callerMethod<S extends ParamSchemas, R>(
  params: S,
  handler: (caller: Caller, ...args: ParamsOf<S>) => R | Promise<R>,
  perm: Permission = 'read',
): MethodDef {
  let min = params.length;
  while (min > 0 && (params[min - 1] as z.ZodType).safeParse(undefined).success) min--;
  return {
    perm,
    arity: { min, max: params.length },
    schema: z.tuple(params as [z.ZodType, ...z.ZodType[]]) as unknown as z.ZodType<unknown[]>,
    handler: (args, caller) => handler(caller, ...(args as ParamsOf<S>)),
  };
}

export interface RpcServerOptions {
  /** Largest request body accepted, in bytes; larger ones get HTTP 413 and the connection stays usable. */
  maxBodyBytes?: number;
  /**
   * Maps the bearer token (undefined when absent) to its caller. Throwing refuses the token (HTTP 401).
   * Without this hook every caller is `admin`.
   */
  authorize?: (token: string | undefined) => Caller | Promise<Caller>;
  onError?: (method: string, err: unknown) => void;
  /** Called after every call with its duration and whether it answered with a result. */
  observe?: (method: string, seconds: number, ok: boolean) => void;
}

interface CallContext {
  caller: Caller;
}

function describeZodIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length > 0 ? `param ${issue.path.map(String).join('.')}` : 'params';
  return `${where}: ${issue.message}`;
}

/** JSON-RPC 2.0 over HTTP POST with positional params, bearer-token permissions and a body limit. */
export class RpcServer {
  private readonly rpc = new JSONRPCServer<CallContext>();
  private readonly maxBodyBytes: number;

  constructor(private readonly options: RpcServerOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
  }

  register(methods: Record<string, MethodDef>): this {
    for (const [name, def] of Object.entries(methods)) {
      this.rpc.addMethodAdvanced(name, async (request, ctx) => {
        const start = performance.now();
        const response = await this.invoke(name, def, request, ctx);
        this.options.observe?.(name, (performance.now() - start) / 1000, !response?.error);
        return response;
      });
    }
    return this;
  }

  hasMethod(name: string): boolean {
    return this.rpc.hasMethod(name);
  }

  private async invoke(
    name: string,
    def: MethodDef,
    request: JSONRPCRequest,
    ctx: CallContext,
  ): Promise<JSONRPCResponse | null> {
    const id = request.id ?? null;
    const fail = (code: number, message: string) => createJSONRPCErrorResponse(id, code, message);
    if (!allows(ctx.caller.perm, def.perm)) {
      return fail(RPC_CODES.Unauthorized, `missing permission to invoke '${name}' (need '${def.perm}')`);
    }
    const raw: unknown = request.params ?? [];
    if (!Array.isArray(raw)) return fail(RPC_CODES.InvalidParams, `${name} takes positional params (a JSON array)`);
    if (raw.length < def.arity.min || raw.length > def.arity.max) {
      const expected = def.arity.min === def.arity.max ? `${def.arity.max}` : `${def.arity.min}–${def.arity.max}`;
      return fail(RPC_CODES.InvalidParams, `wrong param count for ${name}: expected ${expected}, got ${raw.length}`);
    }
    const padded = [...raw, ...Array<undefined>(def.arity.max - raw.length).fill(undefined)];
    const parsed = def.schema.safeParse(padded);
    if (!parsed.success) {
      const detail = parsed.error.issues.slice(0, 3).map(describeZodIssue).join('; ');
      return fail(RPC_CODES.InvalidParams, `invalid params for ${name}: ${detail}`);
    }
    try {
      const result = await def.handler(parsed.data, ctx.caller);
      return request.id === undefined ? null : { jsonrpc: '2.0', id, result: result ?? null };
    } catch (err) {
      if (err instanceof RpcError) return { jsonrpc: '2.0', id, error: { code: err.code, message: err.message, data: err.data } };
      if (err instanceof JSONRPCErrorException) return fail(err.code, err.message);
      this.options.onError?.(name, err);
      return fail(RPC_CODES.Application, err instanceof Error ? err.message : String(err));
    }
  }

  /** The node:http handler for the RPC path; routing of other paths is the caller's business. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('JSON-RPC endpoint: use POST\n');
      return;
    }
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    let caller = UNAUTHENTICATED_ADMIN;
    if (this.options.authorize) {
      try {
        caller = await this.options.authorize(token);
      } catch (err) {
        req.resume();
        sendJson(res, 401, createJSONRPCErrorResponse(null, RPC_CODES.Unauthorized, `token refused: ${(err as Error).message}`));
        return;
      }
    }
    const body = await readBody(req, this.maxBodyBytes);
    if (body === undefined) {
      sendJson(
        res,
        413,
        createJSONRPCErrorResponse(null, RPC_CODES.InvalidRequest, `request body exceeds ${this.maxBodyBytes} bytes`),
      );
      return;
    }
    const response = await this.rpc.receiveJSON(body, { caller });
    if (response === null || (Array.isArray(response) && response.length === 0)) {
      res.writeHead(204).end();
      return;
    }
    sendJson(res, 200, response);
  }
}

/** Reads the whole body, or returns undefined (after draining) when it passes the limit. */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) tooBig = true;
    if (!tooBig) chunks.push(chunk);
  }
  return tooBig ? undefined : Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Parses `host:port` (IPv6 as `[::1]:port`); port 0 picks a free one. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid listen address "${text}": expected host:port, e.g. 127.0.0.1:1234`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/**
 * Serves the given routes on `host:port`: a key matches its path exactly, or, ending in `/`, every path
 * below it. Unknown paths get 404. Resolves once listening, with the actual address (port 0 picks one).
 */
export async function serveHttp(
  listen: string,
  routes: Record<string, Route>,
  onError?: (err: unknown) => void,
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    const route = routes[path] ?? Object.entries(routes).find(([key]) => key.endsWith('/') && path.startsWith(key))?.[1];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such path ${path}\n`);
      return;
    }
    Promise.resolve(route(req, res)).catch((err: unknown) => {
      onError?.(err);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${shownHost}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
