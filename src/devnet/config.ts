import { existsSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { parseSectorSize } from '../core/proofTypes.js';
import { parseDuration } from '../core/units.js';
import { readTomlConfig } from '../core/tomlConfig.js';
import { parsedString } from '../core/validate.js';
import { actorIdOf } from '../chain/address.js';

/** Whole FIL with up to 18 decimals (`"10000"`, `"0.5 FIL"`) or attoFIL (`"123 attoFIL"`), as bigint attoFIL. */
export function parseFil(text: string): bigint {
  const match = /^\s*(\d+)(?:\.(\d{1,18}))?\s*(FIL|attoFIL)?\s*$/i.exec(text);
  if (!match) throw new Error(`invalid amount "${text}": expected e.g. "10000 FIL", "0.5 FIL" or "1000 attoFIL"`);
  if (match[3]?.toLowerCase() === 'attofil') {
    if (match[2]) throw new Error(`invalid amount "${text}": attoFIL is a whole number`);
    return BigInt(match[1] as string);
  }
  return BigInt(match[1] as string) * 10n ** 18n + BigInt((match[2] ?? '').padEnd(18, '0'));
}

const duration = parsedString(parseDuration);
const idAddr = parsedString(actorIdOf);

const epochs = z.number().int().positive();

export const ConfigSchema = z.strictObject({
  chain: z
    .strictObject({
      network_name: z.string().min(1).default('sealfleet-devnet'),
      /** `0s` stops the clock: tipsets come only from the `Devnet.Mine` admin call. */
      block_time: duration.default(1000),
      network_version: z.number().int().min(21).default(28),
      /** Seeds every tipset's ticket and beacon; the same seed gives the same randomness. */
      randomness_seed: z.string().default('sealfleet-devnet'),
      /** Epochs between PreCommit and the interactive seed (mainnet 150; 2k devnets 10). */
      pre_commit_challenge_delay: epochs.default(10),
      /** Oldest ticket a PreCommit may use, in epochs before now (mainnet 3780 = 2880 + finality 900). */
      max_pre_commit_randomness_lookback: epochs.default(3780),
      /** Epochs after PreCommit in which ProveCommit must land (mainnet 30 days + challenge delay). */
      max_prove_commit_duration: epochs.default(86_550),
      /** Epochs after the prove-commit deadline before cron removes an unproven pre-commit (mainnet 960). */
      expired_pre_commit_clean_up_delay: z.number().int().nonnegative().default(960),
      min_sector_expiration: epochs.default(180 * 2880),
      max_sector_expiration_extension: epochs.default(1278 * 2880),
      /** Window PoSt schedule (builtin-actors policy names and mainnet values); period = deadlines × window. */
      wpost_proving_period: epochs.default(2880),
      wpost_challenge_window: epochs.default(60),
      wpost_period_deadlines: epochs.default(48),
      /** Epochs before a deadline opens at which its challenge randomness is drawn. */
      wpost_challenge_lookback: z.number().int().nonnegative().default(20),
      /** Epochs before a deadline opens after which faults and recoveries for it can no longer be declared. */
      fault_declaration_cutoff: epochs.default(70),
      /** Sectors per Window PoSt partition, by sector size (actor values for sizes not listed). */
      window_post_partition_sectors: z.record(z.string(), z.number().int().positive()).default({}),
      /**
       * How proofs are checked: `mock` accepts only the mock processors' keyed-hash proofs; `sidecar` verifies
       * real proofs with the proofs library through sealfleet-proofs.
       */
      proof_verifier: z.enum(['mock', 'sidecar']).default('mock'),
      /** The sealfleet-proofs binary for `sidecar`; default `$SEALFLEET_PROOFS_BIN`, else where `npm run build:proofs` puts it. */
      proofs_bin: z.string().min(1).optional(),
    })
    .prefault({}),
  accounts: z
    .array(z.strictObject({ id: z.number().int().min(100), balance: z.string().default('100000 FIL') }))
    .default([{ id: 100, balance: '100000 FIL' }]),
  miners: z
    .array(
      z.strictObject({
        id: z.number().int().min(1000),
        sector_size: z.string().default('2KiB'),
        owner: idAddr,
        worker: idAddr,
        control: z.array(idAddr).default([]),
      }),
    )
    .default([{ id: 1000, sector_size: '2KiB', owner: 100, worker: 100, control: [] }]),
});

type Parsed = z.output<typeof ConfigSchema>;

export interface DevnetMiner {
  id: number;
  sectorSize: ReturnType<typeof parseSectorSize>;
  /** `window_post_partition_sectors` for the miner's Window PoSt proof type. */
  partitionSectors: number;
  owner: number;
  worker: number;
  control: number[];
}

export interface DevnetConfig {
  chain: Parsed['chain'];
  accounts: { id: number; balance: bigint }[];
  miners: DevnetMiner[];
}

export const DEFAULT_CONFIG_TOML = `# sealfleet devnet: a local simulation of the Lotus chain API (not a Filecoin network).
[chain]
network_name = "sealfleet-devnet"
block_time = "1s"                      # "0s": tipsets only through the Devnet.Mine admin call
pre_commit_challenge_delay = 10        # epochs from PreCommit to the interactive seed
max_pre_commit_randomness_lookback = 3780
max_prove_commit_duration = 86550
proof_verifier = "mock"                # "sidecar": real proofs, verified by sealfleet-proofs
wpost_proving_period = 2880            # Window PoSt schedule; must equal deadlines × challenge window
wpost_challenge_window = 60
wpost_period_deadlines = 48
wpost_challenge_lookback = 20
fault_declaration_cutoff = 70

[[accounts]]
id = 100
balance = "100000 FIL"

[[miners]]
id = 1000
sector_size = "2KiB"
owner = "t0100"
worker = "t0100"
`;

/** builtin-actors `RegisteredPoStProof::window_post_partitions_sector` by sector size. */
const ACTOR_PARTITION_SECTORS = new Map<number, number>([
  [2048, 2],
  [8 * 1024 ** 2, 2],
  [512 * 1024 ** 2, 2],
  [32 * 1024 ** 3, 2349],
  [64 * 1024 ** 3, 2300],
]);

/** The proving schedule's consistency, as the actors' policy assumes it. */
function checkProvingPolicy(chain: Parsed['chain'], source: string): void {
  const where = `invalid devnet config ${source}: chain`;
  const { wpost_proving_period: period, wpost_challenge_window: window, wpost_period_deadlines: deadlines } = chain;
  if (period !== deadlines * window) {
    throw new Error(`${where}.wpost_proving_period: ${period} must equal wpost_period_deadlines × wpost_challenge_window = ${deadlines} × ${window} = ${deadlines * window}`);
  }
  // New sectors go only to deadlines that are neither open nor next, so a schedule needs a third one.
  if (deadlines < 3) throw new Error(`${where}.wpost_period_deadlines: ${deadlines} is too few: expected at least 3`);
  if (chain.wpost_challenge_lookback >= period) {
    throw new Error(`${where}.wpost_challenge_lookback: ${chain.wpost_challenge_lookback} must be below the proving period ${period}`);
  }
  if (chain.fault_declaration_cutoff >= period) {
    throw new Error(`${where}.fault_declaration_cutoff: ${chain.fault_declaration_cutoff} must be below the proving period ${period}`);
  }
}

function partitionSectorsBySize(chain: Parsed['chain'], source: string): Map<number, number> {
  const out = new Map(ACTOR_PARTITION_SECTORS);
  for (const [size, count] of Object.entries(chain.window_post_partition_sectors)) {
    try {
      out.set(parseSectorSize(size), count);
    } catch (err) {
      throw new Error(`invalid devnet config ${source}: chain.window_post_partition_sectors.${size}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** Checks what the schema cannot: amounts, sector sizes, that owners and workers are accounts. */
function resolveConfig(cfg: Parsed, source: string): DevnetConfig {
  checkProvingPolicy(cfg.chain, source);
  const partitionSectors = partitionSectorsBySize(cfg.chain, source);
  const accounts = cfg.accounts.map((a, i) => {
    try {
      return { id: a.id, balance: parseFil(a.balance) };
    } catch (err) {
      throw new Error(`invalid devnet config ${source}: accounts.${i}.balance: ${(err as Error).message}`);
    }
  });
  const accountIds = new Set(accounts.map((a) => a.id));
  const miners = cfg.miners.map((m, i) => {
    const where = `invalid devnet config ${source}: miners.${i}`;
    let sectorSize;
    try {
      sectorSize = parseSectorSize(m.sector_size);
    } catch (err) {
      throw new Error(`${where}.sector_size: ${(err as Error).message}`);
    }
    for (const [key, id] of [['owner', m.owner], ['worker', m.worker], ...m.control.map((c) => ['control', c] as const)] as const) {
      if (!accountIds.has(id)) throw new Error(`${where}.${key}: t0${id} is not one of the [[accounts]]`);
    }
    return { id: m.id, sectorSize, partitionSectors: partitionSectors.get(sectorSize) as number, owner: m.owner, worker: m.worker, control: m.control };
  });
  const ids = [...accountIds, ...miners.map((m) => m.id)];
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup !== undefined) throw new Error(`invalid devnet config ${source}: actor id ${dup} is used twice`);
  return { chain: cfg.chain, accounts, miners };
}

/** Reads `<home>/devnet.toml`, writing the default one first when the home is new. */
export function loadConfig(path: string): DevnetConfig {
  if (!existsSync(path)) writeFileSync(path, DEFAULT_CONFIG_TOML);
  return resolveConfig(readTomlConfig(path, 'devnet config', ConfigSchema), path);
}
