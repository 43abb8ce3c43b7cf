import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { z } from 'zod';
import { RpcError, RpcTransportError } from './errors.js';
import { formatDuration } from '../units.js';

export interface RpcClientOptions {
  /**
   * Full endpoint URL, e.g. `http://127.0.0.1:1234/rpc/v1`; or several URLs of servers that share their state,
   * which calls fail over between (see `RpcClient.call`).
   */
  url: string | readonly string[];
  token?: string;
  /** Sent with every call (e.g. what a gateway in front of the server needs); `token` and content-type win. */
  headers?: Readonly<Record<string, string>>;
  /** Per-call timeout in milliseconds (default 30 s); a call may override it. */
  timeoutMs?: number;
  /** Told when a call got its answer from another endpoint than the current one, which it then becomes. */
  onSwitch?: (change: EndpointSwitch) => void;
  /** Connection pools of this client's own; a protocol left out uses the keep-alive pool the process shares. */
  agents?: RpcAgents;
}

/** Connection pools by protocol (node's http and https agents are not interchangeable). */
export interface RpcAgents {
  http?: HttpAgent;
  https?: HttpsAgent;
}

export interface EndpointSwitch {
  from: string;
  to: string;
  /** Why `from` did not answer, short: `ECONNREFUSED`, `timed out after 1m`, `HTTP 503`. */
  why: string;
}

/** What a gateway or load balancer answers for a server behind it that is down or overloaded: no answer of the server. */
const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

const responseShape = (value: unknown): value is { result?: unknown; error?: { code: number; message: string; data?: unknown } } =>
  typeof value === 'object' && value !== null && (value as { jsonrpc?: unknown }).jsonrpc === '2.0';

/** Kept-alive connections, shared by every client of the process: a call costs one round trip, not a handshake. */
const AGENTS = { http: new HttpAgent({ keepAlive: true, maxSockets: 64 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 64 }) };

/** POSTs `body` and resolves with the status and text of the answer; rejects on network errors and timeout. */
function post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number, agents: RpcAgents): Promise<{ status: number; text: string }> {
  const secure = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: secure ? (agents.https ?? AGENTS.https) : (agents.http ?? AGENTS.http) },
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

/** Why one endpoint gave no answer to one call. */
interface Miss {
  url: string;
  /** Short, for the switch notice. */
  why: string;
  /** Full, for the error when no endpoint answered. */
  detail: string;
  cause?: unknown;
}

function parseEndpoint(url: string): URL {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new Error(`invalid RPC URL "${url}": expected e.g. http://127.0.0.1:1234/rpc/v1`);
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error(`invalid RPC URL "${url}": expected an http(s) URL`);
  return target;
}

/**
 * A JSON-RPC 2.0 client over HTTP POST (positional params, bearer token, per-call timeout).
 *
 * With several endpoints, calls go to the current one; a call it does not answer (connection refused or
 * reset, DNS failure, timeout, HTTP 502/503/504) is sent to the next endpoint in the list, each endpoint at
 * most once per call, and the first that answers becomes the current one: the client sticks to an endpoint
 * that works and comes back to earlier ones in turn when later ones fail. An error answer is an answer: it
 * is thrown, never sent elsewhere. A call that timed out may have been carried out, so several endpoints are
 * only for methods that are safe to repeat.
 */
export class RpcClient {
  private nextId = 1;
  private readonly targets: readonly URL[];
  /** Index into `targets` of the endpoint calls go to first. */
  private current = 0;

  constructor(private readonly options: RpcClientOptions) {
    const urls = typeof options.url === 'string' ? [options.url] : options.url;
    if (urls.length === 0) throw new Error('no RPC URL: expected at least one, e.g. http://127.0.0.1:1234/rpc/v1');
    this.targets = urls.map(parseEndpoint);
  }

  /** The endpoint calls go to first. */
  get url(): string {
    return this.urls[0] as string;
  }

  /** Every endpoint, in the order the next call tries them (the current one first). */
  get urls(): string[] {
    const n = this.targets.length;
    return this.targets.map((_, i) => (this.targets[(this.current + i) % n] as URL).toString());
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
    const first = this.current;
    const misses: Miss[] = [];
    for (let i = 0; i < this.targets.length; i++) {
      const at = (first + i) % this.targets.length;
      const target = this.targets[at] as URL;
      const url = target.toString();
      let answer: { status: number; text: string };
      try {
        answer = await post(target, headers, body, timeoutMs, this.options.agents ?? {});
      } catch (err) {
        const timedOut = err instanceof TimeoutError;
        const why = timedOut ? `timed out after ${formatDuration(timeoutMs)}` : errorCode(err);
        misses.push({ url, why, detail: timedOut ? why : `failed: ${causeText(err)}`, cause: err });
        continue;
      }
      if (GATEWAY_STATUSES.has(answer.status)) {
        misses.push({ url, why: `HTTP ${answer.status}`, detail: `HTTP ${answer.status}: ${answer.text.slice(0, 200)}` });
        continue;
      }
      // Concurrent calls that all found the current endpoint down switch once, and tell once.
      const missed = misses[0];
      if (missed && this.current === first) {
        this.current = at;
        this.options.onSwitch?.({ from: missed.url, to: url, why: missed.why });
      }
      return this.answer(method, url, answer, opts.schema);
    }
    throw noAnswer(method, misses);
  }

  private answer<T>(method: string, url: string, { status, text }: { status: number; text: string }, schema: z.ZodType<T> | undefined): T {
    let reply: unknown;
    try {
      reply = JSON.parse(text);
    } catch {
      throw new RpcTransportError(`${method} to ${url}: HTTP ${status} with a non-JSON body: ${text.slice(0, 200)}`);
    }
    if (!responseShape(reply)) {
      throw new RpcTransportError(`${method} to ${url}: HTTP ${status} without a JSON-RPC 2.0 response`);
    }
    if (reply.error) throw new RpcError(reply.error.code, reply.error.message, reply.error.data);
    if (!schema) return reply.result as T;
    const parsed = schema.safeParse(reply.result);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RpcTransportError(`${method} to ${url}: unexpected result shape at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
    }
    return parsed.data;
  }
}

/** One endpoint: its miss as before there were several; several: every one, in the order tried. */
function noAnswer(method: string, misses: Miss[]): RpcTransportError {
  const [only] = misses;
  if (misses.length === 1 && only) return new RpcTransportError(`${method} to ${only.url} ${only.detail}`, { cause: only.cause });
  const tried = misses.map((m) => `${m.url} ${m.detail}`).join('; ');
  return new RpcTransportError(`${method}: none of ${misses.length} endpoints answered: ${tried}`, { cause: misses[0]?.cause });
}

/** `ECONNREFUSED`, `ENOTFOUND` …: what an operator greps for; the message when there is no code. */
function errorCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : causeText(err);
}

function causeText(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
