import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/**
 * Refuses RPC requests a web page could make a browser send. A page cannot send `Content-Type:
 * application/json` cross-origin without a CORS preflight (which we never grant), so requiring it stops
 * "simple" form and text/plain posts; browsers also announce themselves with `Origin` and
 * `Sec-Fetch-Site`. Programs (our RpcClient, go-jsonrpc in damocles workers) send application/json and
 * no Origin.
 */
export function refuseForeign(req: IncomingMessage): { status: number; message: string } | null {
  const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (contentType !== 'application/json') {
    const got = contentType === '' ? 'none' : `"${quoteable(contentType)}"`;
    return { status: 415, message: `unsupported content type ${got}: send the JSON-RPC request with Content-Type: application/json` };
  }
  if (req.headers['sec-fetch-site'] === 'cross-site') {
    return { status: 403, message: 'cross-site request refused (Sec-Fetch-Site: cross-site)' };
  }
  const host = req.headers.host;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    // https too: a TLS-terminating proxy in front keeps the Host but the browser's page is https.
    const own = host === undefined ? [] : [`http://${host.toLowerCase()}`, `https://${host.toLowerCase()}`];
    if (!own.includes(origin.toLowerCase())) {
      return { status: 403, message: `cross-origin request refused: Origin "${quoteable(origin)}" is not this server's own (${own[0] ?? 'no Host header'})` };
    }
  }
  return null;
}

/**
 * For a server listening on loopback: refuses a `Host` that does not name loopback. This defeats DNS
 * rebinding, where a page whose own name now resolves to 127.0.0.1 reaches the server but still sends
 * its own name as Host. (A server on another address is meant to be reached by other names.)
 */
export function foreignHost(listenHost: string, host: string | undefined): string | null {
  if (host === undefined || !isLoopback(listenHost) || isLoopback(hostName(host))) return null;
  return `Host "${quoteable(host)}" refused: this server listens on loopback and answers only to localhost, 127.0.0.1 or [::1]`;
}

/** The host part of a Host header: `name:port`, `[v6]:port`, or either without a port. */
function hostName(host: string): string {
  const text = host.trim().toLowerCase();
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(text);
  if (bracketed) return bracketed[1] as string;
  return text.replace(/:\d*$/, '');
}

/** `localhost` (and its subdomains, which browsers resolve to loopback themselves), 127.0.0.0/8, ::1. */
export function isLoopback(name: string): boolean {
  const address = name.toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (address === 'localhost' || address.endsWith('.localhost')) return true;
  if (isIP(address) === 4) return address.startsWith('127.');
  if (isIP(address) === 6) return address === '::1';
  return false;
}

/** Header values are the caller's; quoted back short and printable. */
const quoteable = (text: string): string => text.slice(0, 100).replace(/[^\x20-\x7e]/g, '?');
