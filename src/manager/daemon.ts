import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import { createLogger, type Logger } from '../core/log.js';
import { acquireHomeLock } from '../core/homeLock.js';
import { RpcServer, serveHttp, allows } from '../core/rpc/server.js';
import { LotusClient } from '../chain/client.js';
import { startDevnet, type RunningDevnet } from '../devnet/daemon.js';
import { findSidecar, requireSidecar, SidecarClient } from '../core/processor/sidecar.js';
import { adminMethods } from './api/admin.js';
import { sealerMethods, SealerService } from './api/sealer.js';
import { createToken, loadSecret, tokenVerifier } from './auth.js';
import { Committer } from './commitment/committer.js';
import { Miners } from './commitment/miners.js';
import { defaultDevnetConfig, loadConfig, type ManagerConfig } from './config.js';
import { openDatabase } from './db/open.js';
import { PieceQueue, sidecarHashing, typescriptHashing, type PieceHashing } from './deals/pieces.js';
import { managerMetrics } from './metrics.js';
import { SectorNumbering } from './sectors/numbering.js';
import { SectorRecords } from './sectors/records.js';
import { PersistStores } from './stores.js';
import { WorkerRegistry } from './workers/registry.js';

export interface ManagerOptions {
  home: string;
  listen: string;
  /** Run the devnet in this process (state in `<home>/devnet`) and use it as the chain. */
  devnet?: boolean;
  /** Overrides the in-process devnet's `proof_verifier`. */
  devnetProofs?: 'mock' | 'sidecar';
  /** A Lotus-compatible node; overrides `[chain] api` of the config. */
  chainApi?: string;
  chainToken?: string;
  logger?: Logger;
}

export interface RunningManager {
  url: string;
  rpcUrl: string;
  devnet?: RunningDevnet;
  close(): Promise<void>;
}

/**
 * Starts the manager: the sealer API for workers and the operator API on `/rpc/v0`, `/healthz`,
 * `/metrics` and `/piecestore/<piece CID>`; keeps its state in `<home>/manager.db` and writes `<home>/api`
 * and `<home>/token` (an admin token) for the CLI.
 */
export async function startManager(opts: ManagerOptions): Promise<RunningManager> {
  const log = opts.logger ?? createLogger('manager');
  mkdirSync(opts.home, { recursive: true });
  const release = acquireHomeLock(join(opts.home, 'manager.lock'), 'a manager');
  const cleanup: (() => Promise<void> | void)[] = [release];
  const unwind = async (): Promise<void> => {
    for (const fn of cleanup.reverse()) await fn();
  };
  try {
    const persistDefault = join(opts.home, 'persist');
    const config = loadConfig(join(opts.home, 'manager.toml'), opts.devnet ? () => defaultDevnetConfig(persistDefault) : undefined);
    for (const s of config.persist_stores) mkdirSync(s.path, { recursive: true });

    let devnet: RunningDevnet | undefined;
    let chainUrl = opts.chainApi ?? config.chain.api;
    let chainToken = opts.chainToken ?? config.chain.token;
    if (opts.devnet) {
      devnet = await startDevnet({
        home: join(opts.home, 'devnet'),
        listen: '127.0.0.1:0',
        logger: log.child({ part: 'devnet' }),
        ...(opts.devnetProofs ? { proofVerifier: opts.devnetProofs } : {}),
      });
      cleanup.push(() => devnet?.close());
      chainUrl = devnet.url;
      chainToken = undefined;
    }
    if (!chainUrl) throw new Error('no chain: pass --devnet, or --chain-api <url>, or set [chain] api in manager.toml');
    const lotus = new LotusClient({ url: chainUrl, ...(chainToken ? { token: chainToken } : {}), timeoutMs: 30_000 });

    const db = await openDatabase(opts.home);
    cleanup.push(() => db.destroy());
    const miners = new Miners(lotus, config.miners);
    await miners.load();
    const numbering = new SectorNumbering(db);
    await numbering.prepare(config.miners);
    const records = new SectorRecords(db);
    const hashing = pieceHashing(config, log);
    cleanup.push(() => hashing.close());
    const pieces = new PieceQueue(db, opts.home, hashing);
    const stores = new PersistStores(db, config.persist_stores);
    const workers = new WorkerRegistry(db);
    const committer = new Committer(db, lotus, miners, config, log.child({ part: 'commitment' }));
    const metrics = managerMetrics(db);
    const sealer = new SealerService({ config, lotus, miners, records, numbering, pieces, stores, workers, committer, log, onFailure: metrics.failure });
    committer.start();
    cleanup.push(() => committer.stop());
    const upgrades = setInterval(() => {
      sealer.watchUpgrades().catch((err: unknown) => log.warn({ err }, 'snap-up watch failed'));
    }, Math.max(250, config.chain.poll_interval));
    cleanup.push(() => clearInterval(upgrades));
    // Four looks per orphan_after, and at least one a minute, release an orphan at most one period late;
    // overlapping sweeps are harmless, each orphan is claimed once.
    const orphans = setInterval(() => {
      sealer.releaseOrphans().catch((err: unknown) => log.warn({ err }, 'orphan sweep failed'));
    }, Math.min(60_000, Math.max(250, config.sectors.orphan_after / 4)));
    cleanup.push(() => clearInterval(orphans));

    const secret = loadSecret(opts.home, true);
    const authorize = tokenVerifier(secret);
    const rpc = new RpcServer({
      authorize,
      onError: (m, err) => log.error({ err, method: m }, 'rpc handler failed'),
      observe: metrics.observeRpc,
    });
    const messageCid = async (id: string | null): Promise<string | null> =>
      id === null ? null : ((await db.selectFrom('messages').select('cid').where('id', '=', id).executeTakeFirst())?.cid ?? null);
    rpc.register(sealerMethods(sealer, workers));
    rpc.register(adminMethods({ records, workers, pieces, miners, messageCid }));

    const pieceRoute = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      const header = req.headers.authorization;
      const token = header?.startsWith('Bearer ') ? header.slice(7) : new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined;
      const caller = await authorize(token).catch(() => undefined);
      if (!caller || !allows(caller.perm, 'read')) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('a valid token is required\n');
        return;
      }
      const raw = decodeURIComponent((req.url ?? '').split('?')[0]?.slice('/piecestore/'.length) ?? '');
      let cid: string;
      try {
        cid = CID.parse(raw).toString();
      } catch {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`"${raw}" is not a piece CID\n`);
        return;
      }
      const piece = await pieces.get(cid);
      if (!piece) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end(`piece ${cid} is not in the piece store\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Number(piece.payload_size) });
      createReadStream(pieces.path(cid)).pipe(res);
    };
    const http = await serveHttp(
      opts.listen,
      {
        '/rpc/v0': (req, res) => rpc.handle(req, res),
        '/healthz': (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        },
        '/metrics': async (_req, res) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
        },
        '/piecestore/': pieceRoute,
      },
      (err) => log.error({ err }, 'http'),
    );
    cleanup.push(() => http.close());
    const rpcUrl = `${http.url}/rpc/v0`;
    writeFileSync(join(opts.home, 'api'), `${http.url}\n`);
    writeFileSync(join(opts.home, 'token'), `${await createToken(secret, 'admin')}\n`, { mode: 0o600 });
    log.info(
      { url: http.url, chain: devnet ? 'devnet (in-process)' : chainUrl, miners: miners.all().map((m) => m.address), stores: config.persist_stores.map((s) => s.name) },
      'manager up',
    );
    return {
      url: http.url,
      rpcUrl,
      ...(devnet ? { devnet } : {}),
      close: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** `[pieces] commitment`: the sidecar when asked for (it must be there) or, with `auto`, when it is built. */
function pieceHashing(config: ManagerConfig, log: Logger): PieceHashing {
  const { commitment, proofs_bin } = config.pieces;
  if (commitment === 'typescript') return typescriptHashing;
  const sidecar = commitment === 'sidecar' ? requireSidecar(proofs_bin, '[pieces] commitment = "sidecar"') : findSidecar(proofs_bin);
  if (!sidecar) return typescriptHashing;
  return sidecarHashing(new SidecarClient(sidecar, log.child({ part: 'pieces' })));
}
