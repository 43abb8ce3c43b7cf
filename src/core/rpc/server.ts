import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { RPC_CODES, RpcError } from './errors.js';
import { foreignHost, refuseForeign } from './origin.js';
import { parseRequestBody, type RpcId, type RpcResponse, errorResponse } from './envelope.js';

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
  /**
   * Most calls one batch may hold (default 100). Neither damocles (go-jsonrpc) nor our clients batch at
   * all, so the cap only has to leave room for scripts. It bounds what one request can ask for (100
   * times the costliest call, whose rows are bounded too) where an unbounded batch let one request
   * queue work for as long as its sender liked; other requests are served between its calls.
   */
  maxBatch?: number;
  /** Deepest nesting of arrays and objects a request may have (default 64; our deepest, in a batch, nests 6). */
  maxDepth?: number;
}

function describeZodIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length > 0 ? `param ${issue.path.map(String).join('.')}` : 'params';
  return `${where}: ${issue.message}`;
}

/**
 * JSON-RPC 2.0 over HTTP POST with positional params, bearer-token permissions, a body limit, a batch
 * cap, and refusal of requests a browser could have been made to send (see `refuseForeign`).
 *
 * The dispatcher is ours rather than a library's: the envelope is checked before anything runs (ids,
 * nesting, empty batches), and batch items run one after another with a turn of the event loop between
 * them, so one caller cannot starve the others or `/healthz`.
 */
export class RpcServer {
  private readonly methods = new Map<string, MethodDef>();
  private readonly maxBodyBytes: number;
  private readonly maxBatch: number;
  private readonly maxDepth: number;

  constructor(private readonly options: RpcServerOptions = {}) {
    this.maxBodyBytes = options.maxBodyBytes ?? 16 * 1024 * 1024;
    this.maxBatch = options.maxBatch ?? 100;
    this.maxDepth = options.maxDepth ?? 64;
  }

  register(methods: Record<string, MethodDef>): this {
    for (const [name, def] of Object.entries(methods)) this.methods.set(name, def);
    return this;
  }

  hasMethod(name: string): boolean {
    return this.methods.has(name);
  }

  /** Answers one request object of a body; null for a notification. */
  private async dispatch(item: unknown, caller: Caller): Promise<RpcResponse | null> {
    const request = checkRequest(item);
    if ('error' in request) return request.error;
    const { id, name, params } = request;
    const def = this.methods.get(name);
    let response: RpcResponse;
    if (!def) {
      response = errorResponse(id ?? null, RPC_CODES.MethodNotFound, `method '${truncateForMessage(name)}' not found`);
    } else {
      const start = performance.now();
      response = await this.invoke(name, def, id ?? null, params, caller);
      this.options.observe?.(name, (performance.now() - start) / 1000, !('error' in response));
    }
    // A notification gets no answer, not even an error (JSON-RPC 2.0 §4.1).
    return id === undefined ? null : response;
  }

  private async invoke(name: string, def: MethodDef, id: RpcId, params: unknown, caller: Caller): Promise<RpcResponse> {
    const fail = (code: number, message: string) => errorResponse(id, code, message);
    if (!allows(caller.perm, def.perm)) {
      return fail(RPC_CODES.Unauthorized, `missing permission to invoke '${name}' (need '${def.perm}')`);
    }
    const raw: unknown = params ?? [];
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
      const result = await def.handler(parsed.data, caller);
      return { jsonrpc: '2.0', id, result: result ?? null };
    } catch (err) {
      if (err instanceof RpcError) return { jsonrpc: '2.0', id, error: { code: err.code, message: err.message, data: err.data } };
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
    const refusal = refuseForeign(req);
    if (refusal) {
      req.resume();
      sendJson(res, refusal.status, errorResponse(null, RPC_CODES.InvalidRequest, refusal.message));
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
        sendJson(res, 401, errorResponse(null, RPC_CODES.Unauthorized, `token refused: ${(err as Error).message}`));
        return;
      }
    }
    const body = await readBody(req, this.maxBodyBytes);
    if (body === undefined) {
      sendJson(res, 413, errorResponse(null, RPC_CODES.InvalidRequest, `request body exceeds ${this.maxBodyBytes} bytes`));
      return;
    }
    const parsed = parseRequestBody(body, this.maxDepth);
    if ('error' in parsed) {
      // The body as a whole is bad: nothing ran, and the HTTP status says so to proxies and logs as well.
      sendJson(res, 400, parsed.error);
      return;
    }
    const { value } = parsed;
    if (!Array.isArray(value)) {
      const response = await this.dispatch(value, caller);
      if (response === null) res.writeHead(204).end();
      else sendJson(res, 200, response);
      return;
    }
    if (value.length === 0) {
      sendJson(res, 400, errorResponse(null, RPC_CODES.InvalidRequest, 'empty batch: send at least one request object'));
      return;
    }
    if (value.length > this.maxBatch) {
      sendJson(res, 400, errorResponse(null, RPC_CODES.InvalidRequest, `batch of ${value.length} calls exceeds the limit of ${this.maxBatch}; send fewer calls per request`));
      return;
    }
    const responses: RpcResponse[] = [];
    for (const [i, item] of value.entries()) {
      // Other requests (and /healthz) get their turn between the calls of a batch.
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const response = await this.dispatch(item, caller);
      if (response !== null) responses.push(response);
    }
    if (responses.length === 0) res.writeHead(204).end();
    else sendJson(res, 200, responses);
  }
}

type CheckedRequest = { id: RpcId | undefined; name: string; params: unknown } | { error: RpcResponse };

/** The envelope of one request object (JSON-RPC 2.0 §4): what is not one is answered with InvalidRequest and id null. */
function checkRequest(item: unknown): CheckedRequest {
  const invalid = (why: string): CheckedRequest => ({ error: errorResponse(null, RPC_CODES.InvalidRequest, `invalid request: ${why}`) });
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    return invalid(`expected a request object, got ${item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item}`);
  }
  const { jsonrpc, id, method: name, params } = item as Record<string, unknown>;
  if (jsonrpc !== '2.0') return invalid('"jsonrpc" must be "2.0"');
  if (id !== undefined && id !== null && typeof id !== 'string' && typeof id !== 'number') {
    return invalid('"id" must be a string, a number or null');
  }
  if (typeof id === 'string' && id.length > MAX_ID_LENGTH) return invalid(`"id" is longer than ${MAX_ID_LENGTH} characters`);
  if (typeof name !== 'string' || name === '') return invalid('"method" must be a non-empty string');
  return { id, name, params };
}

/** Ids are echoed in the answer; a long one would only amplify it. go-jsonrpc sends numbers. */
const MAX_ID_LENGTH = 256;

/** A caller's text quoted back in an error, cut so an error never grows with the request. */
function truncateForMessage(text: string): string {
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
}

/** Reads the whole body, or returns undefined (after draining) when it passes the limit. */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
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
  return tooBig ? undefined : Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

/** Parses `host:port` (IPv6 as `[::1]:port`); port 0 picks a free one. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid listen address "${text}": expected host:port, e.g. 127.0.0.1:1234`);
  }
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port };
}

/** `host:port`, with an IPv6 host in brackets: the inverse of `parseListen`. */
export const joinHostPort = (host: string, port: number): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

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
    const refusedHost = foreignHost(host, req.headers.host);
    if (refusedHost) {
      req.resume();
      sendJson(res, 403, errorResponse(null, RPC_CODES.InvalidRequest, refusedHost));
      return;
    }
    const path = (req.url ?? '/').split('?')[0] as string;
    if (!decodes(path)) {
      req.resume();
      sendJson(res, 400, { error: `malformed percent-encoding in path ${JSON.stringify(path.slice(0, 200))}` });
      return;
    }
    const route = routes[path] ?? Object.entries(routes).find(([key]) => key.endsWith('/') && path.startsWith(key))?.[1];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such path ${path}\n`);
      return;
    }
    // A route that throws, even synchronously, answers 500 with a generic text: the details go to the log,
    // not to whoever sent the request, and the daemon keeps serving.
    Promise.resolve()
      .then(() => route(req, res))
      .catch((err: unknown) => {
        onError?.(err);
        if (res.headersSent) res.destroy();
        else sendJson(res, 500, { error: 'internal error; the server log has the details' });
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
