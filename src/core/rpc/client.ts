import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import { RpcError, RpcTransportError } from './errors.js';
import { formatDuration } from '../units.js';

export interface RpcClientOptions {
  /** Full endpoint URL, e.g. `http://127.0.0.1:1234/rpc/v1`. */
  url: string;
  token?: string;
  /** Sent with every call (e.g. what a gateway in front of the server needs); `token` and content-type win. */
  headers?: Readonly<Record<string, string>>;
  /** Per-call timeout in milliseconds (default 30 s); a call may override it. */
  timeoutMs?: number;
}

const responseShape = (value: unknown): value is { result?: unknown; error?: { code: number; message: string; data?: unknown } } =>
  typeof value === 'object' && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';

/** Kept-alive connections, shared by every client of the process: a call costs one round trip, not a handshake. */
const AGENTS = { http: new HttpAgent({ keepAlive: true, maxSockets: 64 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };

/** POSTs `body` and resolves with the status and text of the answer; rejects on network errors and timeout. */
function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: secure ? AGENTS.https : AGENTS.http },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', fail);
      },
    );
    // The whole call, not just an idle socket, is bounded: a long poll that never answers must end.
    const timer = setTimeout(() => req.destroy(new TimeoutError()), timeoutMs);
    function fail(err: Error): void {
      clearTimeout(timer);
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

class TimeoutError extends Error {}

/** A JSON-RPC 2.0 client over HTTP POST (positional params, bearer token, per-call timeout). */
export class RpcClient {
  private nextId = 1;
  readonly url: string;
  private readonly target: URL;

  constructor(private readonly options: RpcClientOptions) {
    try {
      this.target = new URL(options.url);
    } catch {
      throw new Error(`invalid RPC URL "${options.url}": expected e.g. http://127.0.0.1:1234/rpc/v1`);
    }
    if (this.target.protocol !== 'http:' && this.target.protocol !== 'https:') {
      throw new Error(`invalid RPC URL "${options.url}": expected an http(s) URL`);
    }
    this.url = this.target.toString();
  }

  /**
   * Calls `method` and returns its result, validated by `schema` when given (a remote we do not control
   * is a boundary). Throws RpcError for an error answer, RpcTransportError when no answer came.
   */
  async call<T = unknown>(method: string, params: unknown[] = [], opts: { schema?: z.ZodType<T>; timeoutMs?: number } = {}): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? this.options.timeoutMs ?? 30_000;
    const body = JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params });
    const headers: Record<string, string> = { ...this.options.headers, 'content-type': 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let text: string;
    let status: number;
    try {
      ({ status, text } = await post(this.target, headers, body, timeoutMs));
    } catch (err) {
      const timedOut = err instanceof TimeoutError;
      const why = timedOut ? `timed out after ${formatDuration(timeoutMs)}` : `failed: ${causeText(err)}`;
      throw new RpcTransportError(`${method} to ${this.url} ${why}`, { cause: err });
    }
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new RpcTransportError(`${method} to ${this.url}: HTTP ${status} with a non-JSON body: ${text.slice(0, 200)}`);
    }
    if (!responseShape(reply)) {
      throw new RpcTransportError(`${method} to ${this.url}: HTTP ${status} without a JSON-RPC 2.0 response`);
    }
    if (reply.error) throw new RpcError(reply.error.code, reply.error.message, reply.error.data);
    if (!opts.schema) return reply.result as T;
    const parsed = opts.schema.safeParse(reply.result);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RpcTransportError(
        `${method} to ${this.url}: unexpected result shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    return parsed.data;
  }
}

function causeText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
