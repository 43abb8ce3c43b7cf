import { RPC_CODES } from './errors.js';

export type RpcId = string | number | null;

export type RpcResponse =
  | { jsonrpc: '2.0'; id: RpcId; result: unknown }
  | { jsonrpc: '2.0'; id: RpcId; error: { code: number; message: string; data?: unknown } };

export const errorResponse = (id: RpcId, code: number, message: string): RpcResponse => ({ jsonrpc: '2.0', id, error: { code, message } });

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and parses a request body: invalid UTF-8 and bad JSON are Parse errors, nesting deeper than
 * `maxDepth` an Invalid Request (refused before parsing, so nothing downstream, our own replies
 * included, ever walks a deep value).
 */
export function parseRequestBody(body: Buffer, maxDepth: number): { value: unknown } | { error: RpcResponse } {
  const depth = nestingDepth(body, maxDepth);
  if (depth > maxDepth) {
    return { error: errorResponse(null, RPC_CODES.InvalidRequest, `request nests arrays/objects deeper than ${maxDepth} levels`) };
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return { error: errorResponse(null, RPC_CODES.ParseError, 'parse error: the request body is not valid UTF-8') };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { error: errorResponse(null, RPC_CODES.ParseError, `parse error: ${(err as Error).message.slice(0, 200)}`) };
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPENERS = new Set([0x5b, 0x7b]);
const CLOSERS = new Set([0x5d, 0x7d]);

/**
 * The deepest bracket nesting outside strings, counted over the raw bytes in one pass without recursion;
 * stops counting once past `limit`. The bytes it looks at are ASCII, which never occur inside a multi-byte
 * UTF-8 sequence, so the count is right for any body that is valid UTF-8 (and harmless for one that is not).
 */
function nestingDepth(body: Buffer, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i] as number;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (OPENERS.has(byte)) {
      if (++depth > limit) return depth;
    } else if (CLOSERS.has(byte)) {
      depth--;
    }
  }
  return 0;
}
