import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { MethodDef } from '../../src/core/rpc/server.js';
import { adminMethods } from '../../src/manager/api/admin.js';
import { dashboardMethods } from '../../src/manager/api/dashboard.js';
import { provingMethods } from '../../src/manager/api/proving.js';
import { wdpostMethods } from '../../src/manager/api/wdpost.js';
import { sealerMethods } from '../../src/manager/api/sealer.js';
import { authMethods, TokenAuthority } from '../../src/manager/auth.js';
import { createTestDatabase, snapshotTestDatabase, testStore } from './postgres.js';
import { MANAGER_BIN, spawnCli, type Spawned } from './processes.js';

/**
 * The start of a manager.toml for the fast devnet: its chain, polled often and trusted after one epoch, and
 * miner t01000. Tests append the rest (a `[miners.…]` table right after it belongs to that miner).
 */
export const QUICK_CHAIN_TOML = `
[chain]
seal_randomness_lookback = 5
seed_confidence = 1
message_confidence = 1
poll_interval = "300ms"

[[miners]]
id = 1000
sender = "t0100"
`;

/** A devnet quick enough for a whole sector in a few seconds. */
export const FAST_DEVNET_TOML = `
[chain]
block_time = "100ms"
pre_commit_challenge_delay = 2
`;

export interface TestManager {
  home: string;
  url: string;
  rpc: RpcClient;
  daemon: Spawned;
  /** Calls a method with the admin token. */
  call<T>(method: string, params?: unknown[]): Promise<T>;
}

const homeDatabases = new Map<string, string>();

/**
 * The `daemon` arguments that put a home's manager on the store under test: none for SQLite (the file in the
 * home); for PostgreSQL, `--db` with the home's own database, created on its first start.
 */
export async function managerDbArgs(home: string): Promise<string[]> {
  switch (testStore()) {
    case 'sqlite':
      return [];
    case 'postgres': {
      let url = homeDatabases.get(home);
      if (url === undefined) {
        url = await createTestDatabase();
        homeDatabases.set(home, url);
      }
      return ['--db', url];
    }
  }
}

/** The PostgreSQL database of a home, made by its first `managerDbArgs`. */
export function homeDatabaseUrl(home: string): string {
  const url = homeDatabases.get(home);
  if (url === undefined) throw new Error(`${home} has no test database yet`);
  return url;
}

/**
 * Puts `home` on the database of `other` (both managers stopped): on SQLite a copy of the other's file, on
 * PostgreSQL the other's database itself.
 */
export function useDatabaseOf(home: string, other: string): void {
  switch (testStore()) {
    case 'sqlite':
      for (const suffix of ['-wal', '-shm']) rmSync(join(home, `manager.db${suffix}`), { force: true });
      copyFileSync(join(other, 'manager.db'), join(home, 'manager.db'));
      return;
    case 'postgres':
      homeDatabases.set(home, homeDatabaseUrl(other));
      return;
  }
}

/** Backs up the database of a home whose manager is stopped; the returned function restores it. */
export async function backUpDatabase(home: string): Promise<() => Promise<void>> {
  switch (testStore()) {
    case 'sqlite': {
      const db = join(home, 'manager.db');
      copyFileSync(db, join(home, 'backup.db'));
      return async () => copyFileSync(join(home, 'backup.db'), db);
    }
    case 'postgres':
      return snapshotTestDatabase(homeDatabaseUrl(home));
  }
}

/** Starts `sealfleet-manager daemon --devnet` as a child process on a free port, on the store under test. */
export async function startTestManager(home: string, opts: { managerToml?: string; listen?: string } = {}): Promise<TestManager> {
  mkdirSync(join(home, 'devnet'), { recursive: true });
  if (!existsSync(join(home, 'devnet', 'devnet.toml'))) writeFileSync(join(home, 'devnet', 'devnet.toml'), FAST_DEVNET_TOML);
  if (opts.managerToml !== undefined) writeFileSync(join(home, 'manager.toml'), opts.managerToml);
  return managerUp(home, spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--devnet', '--listen', opts.listen ?? '127.0.0.1:0', ...(await managerDbArgs(home))]));
}

/**
 * Starts `sealfleet-manager daemon --chain-api <chainApi> --db <db>` as a child process: one of several
 * managers of a cluster on one PostgreSQL database, with the chain (a devnet) in a process of its own.
 */
export async function startClusterManager(home: string, opts: { chainApi: string; db: string; listen: string; managerToml?: string }): Promise<TestManager> {
  mkdirSync(home, { recursive: true });
  if (opts.managerToml !== undefined) writeFileSync(join(home, 'manager.toml'), opts.managerToml);
  return managerUp(home, spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--chain-api', opts.chainApi, '--db', opts.db, '--listen', opts.listen]));
}

/** The manager `daemon` runs, once it says it is up. */
async function managerUp(home: string, daemon: Spawned): Promise<TestManager> {
  const line = await daemon.waitFor(/"manager up"/, 20_000);
  const url = (JSON.parse(line) as { url: string }).url;
  const token = readFileSync(join(home, 'token'), 'utf8').trim();
  const rpc = new RpcClient({ url: `${url}/rpc/v0`, token, timeoutMs: 20_000 });
  return { home, url, rpc, daemon, call: (m, p = []) => rpc.call(m, p) };
}

/** Polls `fn` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The method tables the manager daemon registers, built with stand-ins: only names and permissions are read. */
export function registeredManagerMethods(): Record<string, MethodDef> {
  const unused = {} as never;
  return {
    ...sealerMethods(unused, unused),
    ...adminMethods(unused),
    ...dashboardMethods(unused),
    ...provingMethods(unused),
    ...wdpostMethods(unused),
    ...authMethods(async () => randomBytes(32), new TokenAuthority(randomBytes(32)), () => undefined),
  };
}

/** `sealfleet-manager daemon --devnet` in `home` with the fast devnet, on a free loopback port, plus `args`. */
export function spawnDevnetManager(home: string, args: string[]): Spawned {
  mkdirSync(join(home, 'devnet'), { recursive: true });
  writeFileSync(join(home, 'devnet', 'devnet.toml'), FAST_DEVNET_TOML);
  return spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0', ...args]);
}

/** Expects the manager to refuse to start: it exits 1 without coming up. */
export async function expectRefusedStart(daemon: Spawned): Promise<void> {
  const up = await daemon.waitFor(/"manager up"/, 60_000).then(
    () => true,
    () => false,
  );
  if (up) await daemon.kill();
  assert.ok(!up, 'the manager started');
  assert.equal(await daemon.exited, 1);
}
