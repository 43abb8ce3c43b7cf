import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { RpcClient } from '../src/core/rpc/client.js';
import type { AllocatedSector } from '../src/core/wire/sealer.js';
import { fmt, load, percentile, sealerMoves, skipped, timeUntilReady, type Figure } from './lib.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));
const CALLERS = 32;
const SPEC = { AllowedMiners: null, AllowedProofTypes: null };

type Running = Awaited<ReturnType<typeof timeUntilReady>>;

/** `url` with its database replaced (user, host and parameters kept). */
const withDatabase = (url: string, database: string): string => url.replace(/^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?/i, `$1/${database}`);

async function onServer(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A manager home against the devnet at `chain`, with the devnet's miner and one persist store. */
function managerHome(root: string, name: string): string {
  const home = join(root, name);
  mkdirSync(home);
  writeFileSync(join(home, 'manager.toml'), `[chain]\npoll_interval = "1s"\n\n[[miners]]\nid = 1000\nsender = "t0100"\n\n[[persist_stores]]\nname = "local"\npath = "${root}/persist"\n`);
  return home;
}

/**
 * One worker's traffic, cycled by every caller: a new sector, then the calls a sealing thread makes about its
 * sectors (mostly ReportState), against sectors allocated so far.
 */
function sealerMix(clients: readonly RpcClient[]): { call: (caller: number) => Promise<unknown>; prepare: () => Promise<void> } {
  const sectors: AllocatedSector[] = [];
  let n = 0;
  const move = sealerMoves();
  const call = async (caller: number): Promise<unknown> => {
    const rpc = clients[caller % clients.length] as RpcClient;
    const i = n++;
    const sector = sectors[i % sectors.length] as AllocatedSector;
    switch (i % 10) {
      case 0: {
        const s = await rpc.call<AllocatedSector>('Venus.AllocateSector', [SPEC]);
        sectors.push(s);
        return s;
      }
      case 1:
        return rpc.call('Venus.AcquireDeals', [sector.ID, { MaxDeals: 0, MinUsedSpace: null }]);
      case 2:
        return rpc.call('Venus.PollPreCommitState', [sector.ID]);
      case 3:
        return rpc.call('Venus.WorkerPing', [{ Name: `w${caller % 8}`, Dest: '127.0.0.1:17890', Version: 'bench', Summary: { Threads: 8, Empty: 0, Paused: 0, Running: 8, Waiting: 0, Errors: 0 } }]);
      default:
        return rpc.call('Venus.ReportState', [sector.ID, { Worker: { Instance: 'bench', Location: '/bench' }, StateChange: move(sector.ID.Number), Failure: null }]);
    }
  };
  const prepare = async (): Promise<void> => {
    for (let k = 0; k < 16; k++) sectors.push(await (clients[k % clients.length] as RpcClient).call<AllocatedSector>('Venus.AllocateSector', [SPEC]));
  };
  return { call, prepare };
}

/** Throughput and p99 of the mix from CALLERS concurrent callers, each on the manager `caller % managers` (after a warm-up). */
async function measure(urls: readonly string[], token: string, calls: number): Promise<{ perSecond: number; p99: number }> {
  const clients = urls.map((url) => new RpcClient({ url: `${url}/rpc/v0`, token }));
  const mix = sealerMix(clients);
  await mix.prepare();
  let next = 0;
  const callerOf = (): number => next++ % CALLERS;
  await load(500, CALLERS, () => mix.call(callerOf()));
  const r = await load(calls, CALLERS, () => mix.call(callerOf()));
  return { perSecond: r.perSecond, p99: percentile(r.latencies, 99) };
}

/**
 * The sealer API of several managers on PostgreSQL against one manager on SQLite, measured in the same run
 * with the same chain (a devnet in its own process) and the same call mix (1 AllocateSector : 1 AcquireDeals :
 * 1 PollPreCommitState : 1 WorkerPing : 6 ReportState, 32 callers): one manager on PostgreSQL, and three on one
 * PostgreSQL database with the callers spread over them, each as a ratio of throughput and of p99 to SQLite.
 * Needs SEALFLEET_TEST_PG (a server to create the two databases on); skipped with a line without it.
 */
export async function benchManagers(calls = 4000): Promise<Figure[]> {
  const server = process.env.SEALFLEET_TEST_PG;
  if (!server) {
    const why = 'SEALFLEET_TEST_PG is not set (the URL of a PostgreSQL server to create bench databases on)';
    return [skipped('sealer API, 1 manager on PostgreSQL', why), skipped('sealer API, 3 managers on one PostgreSQL', why)];
  }
  const root = mkdtempSync(join(tmpdir(), 'sealfleet-bench-managers-'));
  const databases = ['one', 'three'].map((what) => `sf_bench_${what}_${randomBytes(4).toString('hex')}`);
  const running: Running[] = [];
  const spawnManager = async (home: string, chain: string, db?: string): Promise<string> => {
    const m = await timeUntilReady([MANAGER_BIN, 'daemon', '--home', home, '--chain-api', chain, '--listen', '127.0.0.1:0', ...(db ? ['--db', db] : [])], /"manager up"/);
    running.push(m);
    return (JSON.parse(m.line) as { url: string }).url;
  };
  try {
    for (const d of databases) await onServer(server, `create database ${d}`);
    mkdirSync(join(root, 'devnet'));
    writeFileSync(join(root, 'devnet', 'devnet.toml'), '[chain]\nblock_time = "1s"\n');
    const devnet = await timeUntilReady([MANAGER_BIN, 'devnet', '--home', join(root, 'devnet'), '--listen', '127.0.0.1:0'], /devnet up/);
    running.push(devnet);
    const chain = (JSON.parse(devnet.line) as { url: string }).url;
    const tokenOf = (home: string): string => readFileSync(join(home, 'token'), 'utf8').trim();

    const sqliteHome = managerHome(root, 'sqlite');
    const sqlite = await measure([await spawnManager(sqliteHome, chain)], tokenOf(sqliteHome), calls);
    const oneHome = managerHome(root, 'pg-one');
    const one = await measure([await spawnManager(oneHome, chain, withDatabase(server, databases[0] as string))], tokenOf(oneHome), calls);
    const threeHomes = [0, 1, 2].map((i) => managerHome(root, `pg-three-${i}`));
    const threeUrls: string[] = [];
    for (const home of threeHomes) threeUrls.push(await spawnManager(home, chain, withDatabase(server, databases[1] as string)));
    // One auth domain: the first home's token is good on all three.
    const three = await measure(threeUrls, tokenOf(threeHomes[0] as string), calls);

    const row = (figure: string, r: { perSecond: number; p99: number }): Figure => ({
      figure,
      measured: `${fmt(r.perSecond, 0)} calls/s, p99 ${fmt(r.p99, 2)} ms`,
      baseline: `1 manager on SQLite: ${fmt(sqlite.perSecond, 0)} calls/s, p99 ${fmt(sqlite.p99, 2)} ms`,
      ratio: `${fmt(r.perSecond / sqlite.perSecond, 2)} (p99 ×${fmt(r.p99 / sqlite.p99, 2)})`,
      target: '—',
      verdict: '—',
    });
    return [row('sealer API, 1 manager on PostgreSQL', one), row('sealer API, 3 managers on one PostgreSQL', three)];
  } finally {
    for (const r of running) r.kill();
    for (const d of databases) await onServer(server, `drop database if exists ${d} with (force)`).catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
