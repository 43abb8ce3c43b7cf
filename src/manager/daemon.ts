import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '../core/log.js';
import { acquireHomeLock } from '../core/homeLock.js';
import { RpcServer, serveHttp } from '../core/rpc/server.js';
import { LotusClient } from '../chain/client.js';
import { startDevnet, type RunningDevnet } from '../devnet/daemon.js';
import { findSidecar, requireSidecar, SidecarClient } from '../core/processor/sidecar.js';
import { adminMethods } from './api/admin.js';
import { dashboardMethods } from './api/dashboard.js';
import { sealerMethods, SealerService } from './api/sealer.js';
import { authMethods, loadSecret, rotateSecretFiles, TokenAuthority, tokenPath } from './auth.js';
import { adoptClusterSecret, rotateClusterSecret, watchClusterSecret } from './clusterSecret.js';
import { Committer } from './commitment/committer.js';
import { Miners } from './commitment/miners.js';
import { dashboardRoutes } from './dashboard/assets.js';
import { WorkerRelay } from './dashboard/workerRelay.js';
import { defaultDevnetConfig, loadConfig, type ManagerConfig } from './config.js';
import { unlessBusy } from './db/locks.js';
import { openDatabase } from './db/open.js';
import { carriesPassword, databaseTarget } from './db/target.js';
import { managerLockPath, secureManagerHome, securePieceDir, warnTightened } from './homeFiles.js';
import { PRIVATE_FILE, readSecretFile, tightenMode, writePrivateFileAtomic } from '../core/privateFiles.js';
import { pieceStoreRoute } from './deals/pieceStore.js';
import { PieceQueue, sidecarHashing, typescriptHashing, type PieceHashing } from './deals/pieces.js';
import { managerMetrics } from './metrics.js';
import { SectorNumbering } from './sectors/numbering.js';
import { SectorStore } from './sectors/store.js';
import { PersistStores } from './stores.js';
import { LifeMessages } from './proving/lifeMessages.js';
import { Poster } from './proving/poster.js';
import { mockProver, sidecarProver, type Prover } from './proving/prover.js';
import { SectorFiles } from './proving/sectorFiles.js';
import { provingMethods } from './api/proving.js';
import { wdpostMethods } from './api/wdpost.js';
import { WdPoStJobs } from './proving/wdpostJobs.js';
import { workerProver } from './proving/workerProver.js';
import { isWide, TrustedNetworks } from './trustedNetworks.js';
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
  /** The chain node's API token; overrides `[chain] token_file` and `token` of the config. */
  chainToken?: string;
  /** A PostgreSQL URL without a password; overrides `[db] url` of the config. */
  db?: string;
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
 * `/metrics`, `/piecestore/<piece CID>` and the dashboard at `/`; keeps its state in `<home>/manager.db` or a PostgreSQL database
 * (`--db`, `[db] url`) and writes `<home>/api`
 * and `<home>/token` (an admin token) for the CLI.
 */
export async function startManager(opts: ManagerOptions): Promise<RunningManager> {
  const log = opts.logger ?? createLogger('manager');
  mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  const release = acquireHomeLock(managerLockPath(opts.home), 'a manager');
  const cleanup: (() => Promise<void> | void)[] = [release];
  const unwind = async (): Promise<void> => {
    for (const fn of cleanup.reverse()) await fn();
  };
  try {
    secureManagerHome(opts.home, log);
    const persistDefault = join(opts.home, 'persist');
    const configPath = join(opts.home, 'manager.toml');
    const config = loadConfig(configPath, opts.devnet ? () => defaultDevnetConfig(persistDefault) : undefined);
    if (config.db.url !== undefined && carriesPassword(config.db.url)) {
      warnTightened(log, tightenMode(configPath, PRIVATE_FILE), ': its [db] url carries the database password; if anyone else may have read it, change that password');
    }
    for (const s of config.persist_stores) mkdirSync(s.path, { recursive: true });
    if (config.pieces.dir !== undefined) securePieceDir(config.pieces.dir, log);

    let devnet: RunningDevnet | undefined;
    let chainUrl = opts.chainApi ?? config.chain.api;
    let chainToken = opts.chainToken ?? chainTokenFromConfig(config);
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

    const target = databaseTarget(opts.db, config.db);
    const db = await openDatabase(opts.home, target, log.child({ part: 'db' }));
    cleanup.push(() => db.destroy());
    const miners = new Miners(lotus, config.miners);
    await miners.load();
    const numbering = new SectorNumbering(db);
    await numbering.prepare(config.miners);
    const hashing = pieceHashing(config, log);
    cleanup.push(() => hashing.close());
    const pieces = new PieceQueue(db, opts.home, hashing, config.pieces.import_dirs, config.pieces.dir);
    const stores = new PersistStores(db, config.persist_stores, target.kind);
    const metrics = managerMetrics(db, { head: async () => (await lotus.chainHead()).Height, lookbackLimit: config.chain.max_pre_commit_randomness_lookback });
    const records = new SectorStore(db, { pieces, stores }, target.kind, metrics.transaction);
    const authority = new TokenAuthority(target.kind === 'postgres' ? await adoptClusterSecret(db, opts.home, log) : loadSecret(opts.home, true));
    if (target.kind === 'postgres') cleanup.push(watchClusterSecret(db, opts.home, authority, log));
    const workers = new WorkerRegistry(db, () => authority.secretId);
    const committer = new Committer(db, records, lotus, miners, config, log.child({ part: 'commitment' }), target.kind, metrics.chainMessage);
    const sealer = new SealerService({ config, lotus, miners, records, numbering, pieces, stores, workers, committer, log, onReport: metrics.report });
    committer.start();
    cleanup.push(() => committer.stop());
    // Every manager watches; one at a time across the database does a round.
    const upgrades = setInterval(() => {
      unlessBusy(db, target.kind, 'upgrade-watch', () => sealer.watchUpgrades()).catch((err: unknown) => log.warn({ err }, 'snap-up watch failed'));
    }, Math.max(250, config.chain.poll_interval));
    cleanup.push(() => clearInterval(upgrades));
    // Four looks per orphan_after, and at least one a minute, release an orphan at most one period late;
    // overlapping sweeps are harmless, each orphan is claimed once.
    const orphans = setInterval(() => {
      sealer.releaseOrphans().catch((err: unknown) => log.warn({ err }, 'orphan sweep failed'));
    }, Math.min(60_000, Math.max(250, config.sectors.orphan_after / 4)));
    cleanup.push(() => clearInterval(orphans));
    const files = new SectorFiles(records, stores);
    const lifeMessages = new LifeMessages({ db, dialect: target.kind, lotus, records, log: log.child({ part: 'life-messages' }) });
    // Every manager watches (one at a time across the database), with or without proving enabled.
    const lifeWatch = setInterval(() => {
      lifeMessages.watch().catch((err: unknown) => log.warn({ err }, 'watch of declarations, extensions and terminations failed'));
    }, Math.max(250, config.chain.poll_interval));
    cleanup.push(() => clearInterval(lifeWatch));
    const wdpostConfig = config.proving.worker_prover;
    const wdpostJobs = new WdPoStJobs(db, wdpostConfig, log.child({ part: 'wdpost-jobs' }));
    if (config.proving.enable && miners.all().length > 0) {
      let ownProver = prover(config, devnet, log);
      let viaWorkers: ReturnType<typeof workerProver> | undefined;
      if (wdpostConfig.enable) {
        viaWorkers = workerProver({ jobs: wdpostJobs, fallback: ownProver, config: wdpostConfig, log: log.child({ part: 'poster' }) });
        ownProver = viaWorkers.prover;
        // Overlapping sweeps are harmless: each change is conditioned on the state it leaves.
        const sweep = setInterval(() => {
          wdpostJobs.sweep().catch((err: unknown) => log.warn({ err }, 'WindowPoSt job sweep failed'));
        }, Math.min(5000, Math.max(250, wdpostConfig.heartbeat_timeout / 4)));
        cleanup.push(() => clearInterval(sweep));
      }
      const poster = new Poster({
        db,
        dialect: target.kind,
        lotus,
        miners,
        records,
        files,
        messages: lifeMessages,
        prover: ownProver,
        log: log.child({ part: 'poster' }),
        pollMs: Math.max(250, config.chain.poll_interval),
      });
      poster.start();
      cleanup.push(() => poster.stop());
      // Runs before the poster's stop (cleanup runs in reverse): a round waiting for a worker's proof ends at once.
      cleanup.push(() => viaWorkers?.close());
    }

    const trusted = new TrustedNetworks(config.api.trusted_networks);
    const authorize = trusted.authorize(authority.authorize);
    if (trusted.networks.length > 0) {
      log.info({ trustedNetworks: trusted.networks.map((n) => n.text) }, 'calls without a token from [api] trusted_networks are admitted as workers (write, never admin)');
      for (const n of trusted.networks.filter(isWide)) {
        log.warn({ network: n.text }, 'trusted network is very wide: every host in it may act as a worker without a token');
      }
    }
    const rpc = new RpcServer({
      authorize,
      onError: (m, err) => log.error({ err, method: m }, 'rpc handler failed'),
      observe: metrics.observeRpc,
    });
    const messageCid = async (id: string | null): Promise<string | null> =>
      id === null ? null : ((await db.selectFrom('messages').select('cid').where('id', '=', id).executeTakeFirst())?.cid ?? null);
    rpc.register(sealerMethods(sealer, workers));
    rpc.register(adminMethods({ records, workers, pieces, miners, messageCid }));
    rpc.register(provingMethods({ db, lotus, miners, records, files, messages: lifeMessages }));
    rpc.register(wdpostMethods(wdpostJobs));
    rpc.register(dashboardMethods({ db, records, relay: new WorkerRelay(workers, authority), lotus, config, messageCid }));
    const rotateSecret = (): Promise<Uint8Array> => (target.kind === 'postgres' ? rotateClusterSecret(db, opts.home) : rotateSecretFiles(opts.home));
    rpc.register(authMethods(rotateSecret, authority, () => log.warn('JWT secret rotated: every older token is refused from now on')));

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
        '/piecestore/': pieceStoreRoute(pieces, authorize, log.child({ part: 'piecestore' })),
        // Last: its `/` takes every path the routes above do not.
        ...dashboardRoutes(),
      },
      (err) => log.error({ err }, 'http'),
    );
    cleanup.push(() => http.close());
    const rpcUrl = `${http.url}/rpc/v0`;
    writeFileSync(join(opts.home, 'api'), `${http.url}\n`);
    writePrivateFileAtomic(tokenPath(opts.home), `${await authority.sign('admin')}\n`);
    log.info(
      { url: http.url, chain: devnet ? 'devnet (in-process)' : withoutCredentials(chainUrl), miners: miners.all().map((m) => m.address), stores: config.persist_stores.map((s) => s.name) },
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

/**
 * `[proving] proofs`: the mock proof, or the sidecar's `window_post` stage. A missing sidecar fails each proof
 * (in the log), not the start: sealing goes on while the operator builds it.
 */
function prover(config: ManagerConfig, devnet: RunningDevnet | undefined, log: Logger): Prover {
  // The in-process devnet's verifier decides the default: a mock proof is refused by a sidecar verifier.
  const proofs = config.proving.proofs ?? devnet?.proofVerifier ?? 'sidecar';
  switch (proofs) {
    case 'mock':
      return mockProver;
    case 'sidecar': {
      let client: SidecarClient | undefined;
      return (req) => {
        client ??= new SidecarClient(requireSidecar(config.proving.proofs_bin ?? config.pieces.proofs_bin, '[proving] proofs = "sidecar"'), log.child({ part: 'poster' }));
        return sidecarProver(client)(req);
      };
    }
  }
}

/** `[chain] token_file` (read at start, so a rotated node token needs a restart) or else `[chain] token`. */
function chainTokenFromConfig(config: ManagerConfig): string | undefined {
  const file = config.chain.token_file;
  if (file === undefined) return config.chain.token;
  return readChainTokenFile(file, '[chain] token_file');
}

/** Reads a chain token file; errors name the file and where it was given, never its content. */
export function readChainTokenFile(path: string, source: string): string {
  return readSecretFile(path, 'the chain token file', source, "the node's API token");
}

/** A URL fit for a log line: a token in its user info or query string stays out. */
function withoutCredentials(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  u.search = '';
  return u.toString();
}
