import { existsSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { readTomlConfig } from '../core/tomlConfig.js';
import { parsedString } from '../core/validate.js';
import { parseDuration, parseSize } from '../core/units.js';
import { isPostgresUrl, POSTGRES_URL_EXPECTED } from './db/target.js';
import { parseNetwork } from './trustedNetworks.js';

const duration = parsedString(parseDuration);
const size = parsedString(parseSize);

const MinerSchema = z.strictObject({
  id: z.number().int().min(0),
  /** Address that sends this miner's messages (must be its worker, owner or a control address). */
  sender: z.string().min(2),
  sector: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Numbers start after this; the first sector is init_number + 1. */
      init_number: z.number().int().min(0).default(0),
      /** Highest number to hand out; 0 = no limit. */
      max_number: z.number().int().min(0).default(0),
      enable_deals: z.boolean().default(true),
      /** CC sector lifetime after activation, in days of 2880 epochs. */
      lifetime_days: z.number().int().positive().default(540),
    })
    .prefault({}),
  deals: z
    .strictObject({
      max_deals: z.number().int().positive().default(256),
      /** Fewer padded piece bytes than this leaves the sector CC. */
      min_used_space: size.default(0),
    })
    .prefault({}),
  commitment: z
    .strictObject({
      /** Send when this many sectors wait (1 = no batching)… */
      pre_batch_threshold: z.number().int().min(1).max(256).default(1),
      /** …or when the oldest has waited this long (0s = at once). */
      pre_batch_max_wait: duration.default(0),
      prove_batch_threshold: z.number().int().min(1).max(256).default(1),
      prove_batch_max_wait: duration.default(0),
    })
    .prefault({}),
  snapup: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
});

const StoreSchema = z.strictObject({
  name: z.string().min(1),
  path: z.string().min(1),
  weight: z.number().int().min(0).default(1),
  read_only: z.boolean().default(false),
  allow_miners: z.array(z.number().int()).default([]),
  deny_miners: z.array(z.number().int()).default([]),
});

export const ConfigSchema = z.strictObject({
  db: z
    .strictObject({
      /**
       * A PostgreSQL database (postgres:// or postgresql://), which several managers may share; absent: the
       * embedded SQLite database <home>/manager.db. `daemon --db` wins.
       */
      url: z.string().refine(isPostgresUrl, POSTGRES_URL_EXPECTED).optional(),
      /** A file holding the database user's password, kept out of the URL. */
      password_file: z.string().min(1).optional(),
    })
    .prefault({}),
  api: z
    .strictObject({
      /**
       * Networks (CIDR) whose hosts may call without a token and are then workers (`write`, never admin):
       * damocles workers send no token. Empty (the default): every call needs a token.
       */
      trusted_networks: z.array(parsedString(parseNetwork)).default([]),
    })
    .prefault({}),
  chain: z
    .strictObject({
      /** Lotus-compatible full node; ignored with `daemon --devnet`. */
      api: z.url().optional(),
      token: z.string().optional(),
      /** A file holding the node's API token (kept out of manager.toml); wins over `token`. */
      token_file: z.string().min(1).optional(),
      /** Tickets are drawn this many epochs below the head (chain finality on mainnet). */
      seal_randomness_lookback: z.number().int().min(0).default(900),
      /** PreCommit is refused when its ticket is older than this (builtin-actors: 2880 + 900). */
      max_pre_commit_randomness_lookback: z.number().int().positive().default(3780),
      max_prove_commit_duration: z.number().int().positive().default(86_550),
      /** Tipsets on top of the seed epoch before the seed is handed out. */
      seed_confidence: z.number().int().min(0).default(6),
      /** Tipsets on top of a message before it counts as landed (before: Packed). */
      message_confidence: z.number().int().min(0).default(3),
      poll_interval: duration.default(5000),
    })
    .prefault({}),
  miners: z.array(MinerSchema).default([]),
  persist_stores: z.array(StoreSchema).default([]),
  pieces: z
    .strictObject({
      /**
       * Who computes an imported piece's commitment: `sidecar` (sealfleet-proofs, native speed), `typescript`
       * (in the manager), or `auto` — the sidecar when it is built, TypeScript otherwise. Both give the same CID.
       */
      commitment: z.enum(['auto', 'sidecar', 'typescript']).default('auto'),
      /** The sealfleet-proofs binary; default `$SEALFLEET_PROOFS_BIN`, else where `npm run build:proofs` puts it. */
      proofs_bin: z.string().min(1).optional(),
      /**
       * The only directories `util deals import` reads from (absolute, existing). Imported bytes are served to
       * every read token, so an import must not reach the daemon's other files; the manager home never counts.
       */
      import_dirs: z.array(z.string().min(1)).default([]),
      /**
       * Where imported pieces are kept and served from (absolute); default `<home>/pieces`. Several managers
       * of one cluster share it: a piece imported through one is served by every one.
       */
      dir: z.string().min(1).optional(),
    })
    .prefault({}),
  proving: z
    .strictObject({
      /** Prove the miners' sectors every deadline (Window PoSt), declare faults and recoveries. */
      enable: z.boolean().default(true),
      /**
       * Who computes the proofs: `mock` (the devnet's mock verifier accepts them) or `sidecar` (the proofs
       * sidecar's `window_post` stage over the sealed files and caches in the persist stores). Default: with
       * `daemon --devnet` what its devnet verifies (`proof_verifier` in devnet.toml, or `--devnet-proofs`),
       * `sidecar` on any other chain.
       */
      proofs: z.enum(['mock', 'sidecar']).optional(),
      /** The sealfleet-proofs binary for `proofs = "sidecar"`; default as `[pieces] proofs_bin`. */
      proofs_bin: z.string().min(1).optional(),
      worker_prover: z
        .strictObject({
          /**
           * Workers' `wdpost` threads compute the proofs: each deadline's proof becomes a job they take
           * (`Venus.WdPoStAllocateJobs`). The manager proves a deadline itself (`proofs`) when no worker takes its
           * job within `fallback_after`, or the job failed `job_max_try` times, or the worker's output has no proof,
           * or the deadline has under a quarter of its challenge window left.
           */
          enable: z.boolean().default(false),
          /** Times a job is handed to a worker before the manager proves the deadline itself. */
          job_max_try: z.number().int().positive().default(2),
          /** A running job whose worker has not sent a heartbeat for this long has failed ("heartbeat timeout"). */
          heartbeat_timeout: duration.refine((ms) => ms >= 1000, 'expected at least 1s').default(15_000),
          /** Jobs are deleted this long after they were created (a deleted job being waited for is proven by the manager). */
          job_lifetime: duration.default(25 * 3600_000),
          /** A job no worker has taken for this long is proven by the manager. */
          fallback_after: duration.default(20_000),
        })
        .prefault({}),
    })
    .prefault({}),
  sectors: z
    .strictObject({
      /**
       * A sector handed out by AllocateSector that no worker has reported on for this long is an orphan (its
       * worker died, or lost the answer, before recording the number): it is aborted as `orphaned` and any
       * pieces go back to the queue. Its number is not handed out again.
       */
      orphan_after: duration.refine((ms) => ms >= 1000, 'expected at least 1s').default(600_000),
    })
    .prefault({}),
});

export type ManagerConfig = z.output<typeof ConfigSchema>;
export type MinerConfig = ManagerConfig['miners'][number];
export type PersistStoreConfig = ManagerConfig['persist_stores'][number];

/**
 * The config a fresh home gets with `daemon --devnet`: one 2KiB miner sealing at once, one persist store, and deal
 * imports from the system temp dir (the quick start's `/tmp/piece.bin`): a local playground, not a production default.
 */
export function defaultDevnetConfig(persistPath: string): string {
  return `# sealfleet manager config (written on first start with --devnet; edit freely)
[chain]
seal_randomness_lookback = 5
seed_confidence = 1
message_confidence = 1
poll_interval = "1s"

[[miners]]
id = 1000
sender = "t0100"

[miners.sector]
enabled = true
init_number = 0
enable_deals = true

[miners.commitment]
pre_batch_threshold = 1
pre_batch_max_wait = "0s"
prove_batch_threshold = 1
prove_batch_max_wait = "0s"

[[persist_stores]]
name = "local"
path = ${JSON.stringify(persistPath)}

[pieces]
# util deals import reads deal files from these directories only (never from the manager home).
import_dirs = [${JSON.stringify(realpathSync(tmpdir()))}]
`;
}

/** Checks across entries: number ranges, duplicate miners and stores. */
function checkConfig(cfg: ManagerConfig, source: string): ManagerConfig {
  cfg.miners.forEach((m, i) => {
    if (m.sector.max_number !== 0 && m.sector.max_number <= m.sector.init_number) {
      throw new Error(`invalid manager config ${source}: miners.${i}.sector.max_number ${m.sector.max_number} must be above init_number ${m.sector.init_number}`);
    }
  });
  const dupMiner = cfg.miners.find((m, i) => cfg.miners.findIndex((o) => o.id === m.id) !== i);
  if (dupMiner) throw new Error(`invalid manager config ${source}: miner ${dupMiner.id} is listed twice`);
  cfg.pieces.import_dirs.forEach((dir, i) => {
    const bad = (why: string): never => {
      throw new Error(`invalid manager config ${source}: pieces.import_dirs.${i} ${JSON.stringify(dir)} ${why}`);
    };
    if (!isAbsolute(dir)) bad('must be an absolute path');
    const info = statSync(dir, { throwIfNoEntry: false });
    if (!info) bad('does not exist');
    else if (!info.isDirectory()) bad('is not a directory');
  });
  if (cfg.pieces.dir !== undefined && !isAbsolute(cfg.pieces.dir)) {
    throw new Error(`invalid manager config ${source}: pieces.dir ${JSON.stringify(cfg.pieces.dir)} must be an absolute path`);
  }
  const dupStore = cfg.persist_stores.find((s, i) => cfg.persist_stores.findIndex((o) => o.name === s.name) !== i);
  if (dupStore) throw new Error(`invalid manager config ${source}: persist store "${dupStore.name}" is listed twice`);
  return cfg;
}

/** Reads `<home>/manager.toml`; a missing file is written from `fallback` when one is given. */
export function loadConfig(path: string, fallback?: () => string): ManagerConfig {
  if (!existsSync(path)) {
    if (!fallback) throw new Error(`manager config ${path} does not exist: write one, or start with --devnet to get a default`);
    writeFileSync(path, fallback());
  }
  return checkConfig(readTomlConfig(path, 'manager config', ConfigSchema), path);
}
