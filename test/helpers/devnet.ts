import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodePreCommitSectorBatch2, decodeProveCommitSectors3, decodeProveReplicaUpdates3, MinerMethod } from '../../src/chain/minerParams.js';
import { LotusClient } from '../../src/chain/client.js';
import type { TipSet } from '../../src/chain/types.js';
import { RpcClient } from '../../src/core/rpc/client.js';
import { MANAGER_BIN, spawnCli, type Spawned } from './processes.js';

/** Policy short enough to walk a sector through every check in a few dozen tipsets. */
export const TEST_DEVNET_TOML = `
[chain]
block_time = "0s"
pre_commit_challenge_delay = 3
max_pre_commit_randomness_lookback = 20
max_prove_commit_duration = 12
expired_pre_commit_clean_up_delay = 2
min_sector_expiration = 100
max_sector_expiration_extension = 10000

[[accounts]]
id = 100
balance = "1000 FIL"

[[accounts]]
id = 101
balance = "1 FIL"

[[miners]]
id = 1000
sector_size = "2KiB"
owner = "t0100"
worker = "t0100"
`;

export interface TestDevnet {
  url: string;
  home: string;
  lotus: LotusClient;
  daemon: Spawned;
  mine(count?: number): Promise<TipSet>;
}

/** Starts `sealfleet-manager devnet` as a child process on a free port. */
export async function startTestDevnet(home: string, opts: { toml?: string; blockTime?: string } = {}): Promise<TestDevnet> {
  if (opts.toml !== undefined) writeFileSync(join(home, 'devnet.toml'), opts.toml);
  const args = ['devnet', '--home', home, '--listen', '127.0.0.1:0'];
  if (opts.blockTime) args.push('--block-time', opts.blockTime);
  const daemon = spawnCli(MANAGER_BIN, args);
  const line = await daemon.waitFor(/devnet up/);
  const url = (JSON.parse(line) as { url: string }).url;
  const lotus = new LotusClient({ url, timeoutMs: 10_000 });
  const admin = new RpcClient({ url, timeoutMs: 60_000 });
  return { url, home, lotus, daemon, mine: (count = 1) => admin.call<TipSet>('Devnet.Mine', [count]) };
}

/** One miner message the devnet took into its pool, landed or not, with the sector numbers it carries. */
export interface DevnetMinerMessage {
  cid: string;
  kind: 'precommit' | 'prove' | 'update';
  sectors: number[];
  /** Null while the message waits in the pool. */
  exitCode: number | null;
}

/** Every pre-commit, prove and replica-update message the devnet in `home` was sent, read from its own database. */
export function devnetMinerMessages(home: string): DevnetMinerMessage[] {
  const db = new Database(join(home, 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select cid, body, exit_code from messages order by pushed_at').all() as { cid: string; body: string; exit_code: number | null }[];
    return rows.flatMap(({ cid, body, exit_code }) => {
      const msg = JSON.parse(body) as { Method: number; Params: string | null };
      const params = Buffer.from(msg.Params ?? '', 'base64');
      const at = (kind: DevnetMinerMessage['kind'], sectors: number[]): DevnetMinerMessage[] => [{ cid, kind, sectors, exitCode: exit_code }];
      switch (msg.Method) {
        case MinerMethod.PreCommitSectorBatch2:
          return at('precommit', decodePreCommitSectorBatch2(params).sectors.map((s) => s.sectorNumber));
        case MinerMethod.ProveCommitSectors3:
          return at('prove', decodeProveCommitSectors3(params).sectorActivations.map((s) => s.sectorNumber));
        case MinerMethod.ProveReplicaUpdates3:
          return at('update', decodeProveReplicaUpdates3(params).sectorUpdates.map((s) => s.sector));
        default:
          return [];
      }
    });
  } finally {
    db.close();
  }
}
