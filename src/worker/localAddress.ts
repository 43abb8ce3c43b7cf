import { connect } from 'node:net';

/**
 * The local address of a TCP connection to `url`'s host and port: the address of this host on the route
 * to the manager, which is an address the manager can dial back (damocles names its workers by it). The
 * connection is closed as soon as it is up; nothing is sent on it.
 */
export function localAddressTowards(url: string, timeoutMs = 5_000): Promise<string> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const fail = (why: string): void => {
      socket.destroy();
      reject(new Error(`cannot tell this host's address towards ${host}:${port}: ${why}`));
    };
    socket.once('connect', () => {
      const local = socket.localAddress;
      socket.destroy();
      // A dual-stack socket reports an IPv4 peer's connection as ::ffff:a.b.c.d; the manager dials a.b.c.d.
      if (local) resolve(local.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1'));
      else reject(new Error(`cannot tell this host's address towards ${host}:${port}: the connection has no local address`));
    });
    socket.once('timeout', () => fail(`no connection within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
  });
}
