import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { SealingError } from '../../src/core/errors.js';
import { pieceCommitment } from '../../src/core/piece.js';
import { createProcessors } from '../../src/worker/processors/index.js';
import type { PieceAccess } from '../../src/worker/processors/pieces.js';
import type { Processors } from '../../src/worker/processors/types.js';
import { tempDir } from '../helpers/processes.js';

const MANAGER_TOKEN = 'manager-token-eyJhbGciOi';
const MARKET_TOKEN = 'market-token-eyJzdWIi';
const PAYLOAD = randomBytes(700);

interface Request {
  server: 'store' | 'market';
  url: string;
  headers: IncomingHttpHeaders;
}

/**
 * A damocles-manager's piece store, which sends workers to the market for the bytes, and that market: it
 * wants the piece token and the namespace header, and echoes what it got when refusing (as a careless
 * server might), so the test sees that no token leaks into an error through a body.
 */
function startServers(): { seen: Request[]; listen(): Promise<{ store: string; market: string }>; close(): void } {
  const seen: Request[] = [];
  let marketUrl = '';
  const market = createServer((req, res) => {
    seen.push({ server: 'market', url: req.url ?? '', headers: req.headers });
    const path = new URL(req.url ?? '/', 'http://market').pathname;
    if (path === '/busy') return void res.writeHead(503).end('busy');
    if (path === '/again') return void res.writeHead(302, { location: `${marketUrl}/piece` }).end();
    if (req.headers.authorization !== `Bearer ${MARKET_TOKEN}` || req.headers['x-venus-api-namespace'] !== 'v1.IMarket') {
      return void res.writeHead(401).end(`refused: authorization ${req.headers.authorization ?? 'none'}`);
    }
    res.end(PAYLOAD);
  });
  const store = createServer((req, res) => {
    seen.push({ server: 'store', url: req.url ?? '', headers: req.headers });
    const to: Record<string, string> = { '/piecestore/ok': '/piece', '/piecestore/busy': '/busy', '/piecestore/twice': '/again' };
    const path = req.url ?? '';
    if (path === '/piecestore/ftp') return void res.writeHead(302, { location: 'ftp://market.lan/piece' }).end();
    if (path === '/piecestore/nowhere') return void res.writeHead(302).end();
    const target = to[path];
    if (!target) return void res.writeHead(404).end('no such piece');
    // The market's address carries a signature in its query: it must never show in an error.
    res.writeHead(302, { location: `${marketUrl}${target}?sig=s3cr3t-signature` }).end('see the market');
  });
  const listen = async () => {
    await Promise.all([store, market].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    const url = (s: typeof store) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
    marketUrl = url(market);
    return { store: url(store), market: marketUrl };
  };
  return {
    seen,
    listen,
    close: () => {
      store.close();
      market.close();
    },
  };
}

const silent = pino({ level: 'silent' });
const processors = (access: PieceAccess): Promise<Processors> =>
  createProcessors({ default: 'mock', kinds: { add_pieces: 'builtin' }, limitation: { concurrent: {}, staggered: {} }, ext_locks: {}, static_tree_d: {}, mock: { stage_time: 0, stage_times: {}, fail: {} }, external: {} }, silent, access);

describe('fetching a piece from a damocles piece store that redirects to the market', () => {
  const servers = startServers();
  let urls: { store: string; market: string };
  const dir = tempDir('piece-redirect');
  before(async () => {
    urls = await servers.listen();
  });
  after(() => servers.close());

  const addPieces = (p: Processors, name: string) =>
    p.run('add_pieces', {
      seal_proof_type: 'StackedDrg2KiBV1_1',
      pieces: [{ piece_file: { url: `${urls.store}/piecestore/${name}` }, payload_size: PAYLOAD.length, piece_size: 1016 }],
      staged_filepath: join(dir, `${name}-${Math.random()}`),
    });

  /** The failure of an add_pieces, checked for its level and for every secret it must not carry. */
  async function failure(p: Processors, name: string, level: SealingError['level']): Promise<string> {
    const err = await addPieces(p, name).then(
      () => assert.fail('add_pieces succeeded'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SealingError, String(err));
    assert.equal(err.level, level, err.message);
    for (const secret of [MANAGER_TOKEN, MARKET_TOKEN, 's3cr3t', '?sig']) assert.ok(!err.message.includes(secret), `"${secret}" in: ${err.message}`);
    return err.message;
  }

  it('follows one redirect with the piece token and the market namespace, and stages the real piece', async () => {
    const p = await processors({ token: MARKET_TOKEN, marketToken: MARKET_TOKEN, headers: { 'X-Gateway-Key': 'gw' } });
    try {
      servers.seen.length = 0;
      const infos = await addPieces(p, 'ok');
      const padded = new Uint8Array(1016);
      padded.set(PAYLOAD);
      assert.deepEqual(infos, [{ commitment: Array.from((await pieceCommitment(padded)).commP), size: 1016 }]);
      const [first, second] = servers.seen;
      assert.equal(servers.seen.length, 2);
      assert.equal(first?.server, 'store');
      assert.equal(first?.headers.authorization, `Bearer ${MARKET_TOKEN}`);
      assert.equal(first?.headers['x-gateway-key'], 'gw');
      assert.equal(second?.server, 'market');
      assert.equal(second?.url, '/piece?sig=s3cr3t-signature');
      assert.equal(second?.headers['x-gateway-key'], undefined, 'the manager\'s gateway headers stay with the manager');
    } finally {
      await p.close();
    }
  });

  it('never sends the manager token to the market: without a piece token the market refuses, and the error is permanent and clean', async () => {
    const p = await processors({ token: MANAGER_TOKEN, marketToken: null, headers: {} });
    try {
      servers.seen.length = 0;
      const message = await failure(p, 'ok', 'Permanent');
      assert.match(message, new RegExp(`^add_pieces \\(builtin\\): GET ${urls.market}/piece \\(query and credentials not shown\\) \\(redirected from ${urls.store}/piecestore/ok\\): HTTP 401 Unauthorized: refused: authorization none$`));
      assert.equal(servers.seen.find((r) => r.server === 'store')?.headers.authorization, `Bearer ${MANAGER_TOKEN}`, 'the piece store itself gets the token');
      assert.equal(servers.seen.find((r) => r.server === 'market')?.headers.authorization, undefined);
    } finally {
      await p.close();
    }
  });

  it('hides a wrong piece token the market echoes back', async () => {
    const p = await processors({ token: MANAGER_TOKEN, marketToken: `${MANAGER_TOKEN}-old`, headers: {} });
    try {
      assert.match(await failure(p, 'ok', 'Permanent'), /HTTP 401 Unauthorized: refused: authorization Bearer <hidden>-old$/);
    } finally {
      await p.close();
    }
  });

  it('refuses a second redirect, a redirect off http(s) or without a Location; a busy market is temporary', async () => {
    const p = await processors({ token: MARKET_TOKEN, marketToken: MARKET_TOKEN, headers: {} });
    try {
      assert.match(await failure(p, 'twice', 'Permanent'), /redirected from .*\/piecestore\/twice\): HTTP 302: a second redirect; expected the piece's bytes after one redirect$/);
      assert.match(await failure(p, 'ftp', 'Permanent'), /GET .*\/piecestore\/ftp: HTTP 302 redirect to ftp: URL: expected an http\(s\) URL$/);
      assert.match(await failure(p, 'nowhere', 'Permanent'), /GET .*\/piecestore\/nowhere: HTTP 302 redirect to no valid Location: expected an http\(s\) URL$/);
      assert.match(await failure(p, 'busy', 'Temporary'), /redirected from .*\/piecestore\/busy\): HTTP 503 Service Unavailable: busy$/);
      assert.match(await failure(p, 'missing', 'Permanent'), /GET .*\/piecestore\/missing: HTTP 404 Not Found: no such piece$/);
    } finally {
      await p.close();
    }
  });
});
