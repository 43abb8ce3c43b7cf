import { open } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CID } from 'multiformats/cid';
import type { Logger } from '../../core/log.js';
import { allows, bearerToken, type Authorize, type Route } from '../../core/rpc/server.js';
import type { PieceQueue } from './pieces.js';

const PREFIX = '/piecestore/';

const answer = (res: ServerResponse, status: number, text: string): void => {
  res.writeHead(status, { 'content-type': 'text/plain' }).end(`${text}\n`);
};

/**
 * `GET /piecestore/<piece CID>`: the bytes of an imported piece, for workers' add_pieces: 200 with the raw
 * payload (exactly `payload_size` bytes, Content-Length set), which is what damocles' fetcher reads before
 * it pads the piece itself. Callers are judged by the manager's authorize hook, so a damocles fetcher (no
 * Authorization header on its first request) is served from a trusted network. The token comes only in
 * `Authorization: Bearer`; a `?token=` query is refused so that no client keeps putting a secret in a URL
 * that proxies, access logs and error texts record. Every failure is an HTTP answer and a log line, never a
 * crash: the file is opened before the 200 goes out, and a read error mid-transfer cuts the response short
 * (the worker sees fewer bytes than Content-Length and retries). A piece whose file is missing is a 503,
 * which the worker retries: with several managers the file may be on storage this one does not see.
 */
export function pieceStoreRoute(pieces: PieceQueue, authorize: Authorize, log: Logger): Route {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://piecestore');
    if (url.searchParams.has('token')) {
      answer(res, 400, 'a token in the URL is refused: send it in the Authorization header (Authorization: Bearer <token>)');
      return;
    }
    const token = bearerToken(req);
    const caller = await Promise.resolve(authorize(token, req.socket.remoteAddress)).catch(() => undefined);
    if (!caller || !allows(caller.perm, 'read')) {
      answer(
        res,
        401,
        token === undefined
          ? 'a token is required (Authorization: Bearer <token>), unless the request comes from one of the manager\'s [api] trusted_networks'
          : 'a valid token with read permission is required in the Authorization header',
      );
      return;
    }
    const raw = safeDecode(url.pathname.slice(PREFIX.length));
    let cid: string;
    try {
      cid = CID.parse(raw).toString();
    } catch {
      answer(res, 400, `"${raw}" is not a piece CID`);
      return;
    }
    const piece = await pieces.get(cid);
    if (!piece) {
      answer(res, 404, `piece ${cid} is not in the piece store`);
      return;
    }
    const path = pieces.path(cid);
    let handle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // Temporary: the record is the cluster's, the file is where this manager looks ([pieces] dir), which
        // may be storage another manager sees and this one does not (yet); the worker tries again.
        log.warn({ piece: cid, path }, 'piece file missing from the piece store');
        answer(res, 503, `piece ${cid} is imported but its file is missing from the piece store of this manager (is [pieces] dir shared by every manager of the cluster?)`);
      } else {
        log.error({ piece: cid, path, code }, 'piece file unreadable');
        answer(res, 500, `piece ${cid}: its file cannot be read (${code ?? 'error'})`);
      }
      return;
    }
    const expected = Number(piece.payload_size);
    const size = (await handle.stat().catch(() => undefined))?.size;
    if (size !== expected) {
      await handle.close();
      log.error({ piece: cid, path, size, expected }, 'piece file has the wrong size');
      answer(res, 500, `piece ${cid}: its file has ${size ?? 'an unknown number of'} bytes, but its payload size is ${expected}`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': expected });
    // The stream owns the handle from here on and closes it on end, error or destroy.
    const stream = handle.createReadStream();
    stream.on('error', (err) => {
      log.error({ piece: cid, path, err }, 'piece read failed mid-transfer');
      res.destroy();
    });
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
