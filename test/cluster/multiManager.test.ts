import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { SectorPieceV2 } from '../../src/core/wire/sealer.js';
import { devnetMinerMessages, startTestDevnet } from '../helpers/devnet.js';
import { eventually, FAST_DEVNET_TOML, QUICK_CHAIN_TOML, startClusterManager, type TestManager } from '../helpers/manager.js';
import { createTestDatabase, onPg } from '../helpers/postgres.js';
import { freePort, MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

const PG = process.env.SEALFLEET_TEST_PG;
if (!PG && process.env.SEALFLEET_REQUIRE_PG === '1') {
  throw new Error('SEALFLEET_REQUIRE_PG=1 but SEALFLEET_TEST_PG is not set: several managers need a PostgreSQL server (as root: export SEALFLEET_TEST_PG=$(bash scripts/ci-postgres.sh))');
}

const MANAGERS = 3;
const SECTORS = 50;
const MIN_KILLS = 6;
/** A kill after every this many more finalized sectors: kills spread over the whole run. */
const KILL_EVERY = 4;
const PIECES = 8;
/** Generous: two loaded cores. */
const LONG = 240_000;

const managerToml = (dirs: { persist: string; pieces: string; imports: string }) => `${QUICK_CHAIN_TOML}
[miners.commitment]
pre_batch_threshold = 3
pre_batch_max_wait = "1s"
prove_batch_threshold = 3
prove_batch_max_wait = "1s"

[[persist_stores]]
name = "local"
path = ${JSON.stringify(dirs.persist)}

[pieces]
commitment = "typescript"
import_dirs = [${JSON.stringify(dirs.imports)}]
dir = ${JSON.stringify(dirs.pieces)}

[sectors]
orphan_after = "4s"
`;

interface SectorRow {
  number: number;
  status: string;
  stage: string;
  latest_state: string | null;
  abort_reason: string | null;
  pieces: string | null;
}

/** What the managers of one cluster share, in a new directory: store, piece and import dirs, the devnet as its own process, a new database. */
async function clusterBase(prefix: string) {
  const root = tempDir(prefix);
  const dirs = { persist: join(root, 'persist'), pieces: join(root, 'pieces'), imports: join(root, 'imports') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  const devnetHome = join(root, 'devnet');
  mkdirSync(devnetHome);
  const devnet = await startTestDevnet(devnetHome, { toml: FAST_DEVNET_TOML });
  return { root, dirs, devnet, db: await createTestDatabase() };
}

describe('three managers on one PostgreSQL serve one cluster', { skip: PG ? false : 'SEALFLEET_TEST_PG is not set: the several-managers test needs a PostgreSQL server' }, () => {
  it('seal 50 sectors while random managers are SIGKILLed: every sector ends, no number, piece or chain message is used twice', { timeout: 600_000 }, async (t) => {
    const { root, dirs, devnet, db } = await clusterBase('multi');
    const sql = <R>(text: string): Promise<R[]> => onPg(async (c) => (await c.query(text)).rows as R[], db);
    const finalized = async (): Promise<number> => Number((await sql<{ n: string }>("select count(*) as n from sectors where status = 'finalized'"))[0]?.n);

    const homes = Array.from({ length: MANAGERS }, (_, i) => join(root, `manager-${i}`));
    const ports = await Promise.all(homes.map(() => freePort()));
    const allocatedBy = homes.map(() => 0);
    const start = async (i: number): Promise<TestManager> => {
      const m = await startClusterManager(homes[i] as string, { chainApi: devnet.url, db, listen: `127.0.0.1:${ports[i]}`, managerToml: managerToml(dirs) });
      m.daemon.proc.stdout?.on('data', (chunk: Buffer) => {
        allocatedBy[i] = (allocatedBy[i] as number) + (chunk.toString().match(/"sector allocated"/g)?.length ?? 0);
      });
      return m;
    };
    // The first creates the cluster (schema, id, JWT secret); the others join it, at once.
    const managers: TestManager[] = [await start(0)];
    managers.push(...(await Promise.all([1, 2].map(start))));
    const workers: TestWorker[] = [];
    try {
      // One auth domain: each worker's token is made from another manager's home than the first it calls.
      const tokens = await Promise.all(
        ['w0', 'w1'].map(async (name, i) => {
          const made = await runCli(MANAGER_BIN, ['auth', 'create-token', '--perm', 'write', '--worker', name, '--home', homes[i + 1] as string]);
          assert.equal(made.code, 0, made.stderr);
          return made.stdout.trim();
        }),
      );
      // Deal pieces imported through different managers: every manager serves them from the shared [pieces] dir.
      for (let p = 0; p < PIECES; p++) {
        const file = join(dirs.imports, `deal-${p}`);
        writeFileSync(file, randomBytes(1000));
        const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', homes[p % MANAGERS] as string]);
        assert.equal(imported.code, 0, imported.stderr);
      }

      const urls = managers.map((m) => m.url);
      const orders = [urls, [...urls].reverse()];
      const configs: string[] = [];
      for (const [i, order] of orders.entries()) {
        const config = await writeWorkerConfig(join(root, `worker-${i}`), managers[0] as TestManager, {
          name: `w${i}`,
          token: tokens[i] as string,
          managerAddrs: order,
          threads: Array.from({ length: 4 }, () => ({ plan: 'sealer' })),
          attached: [{ name: 'local', location: dirs.persist }],
          // A thread must outlast the restart of the manager it was talking to, whatever it was doing.
          maxRetries: 30,
        });
        configs.push(config);
        workers.push(await startTestWorker(config));
      }

      let kills = 0;
      while (kills < MIN_KILLS || (await finalized()) < SECTORS) {
        const goal = (kills + 1) * KILL_EVERY;
        await eventually(`${goal} sectors finalized (kill ${kills + 1})`, async () => ((await finalized()) >= goal ? true : undefined), LONG);
        const i = randomInt(MANAGERS);
        await (managers[i] as TestManager).daemon.kill('SIGKILL');
        kills++;
        managers[i] = await start(i);
        await eventually(`manager ${i} answers /healthz after its restart`, async () => ((await fetch(`${urls[i]}/healthz`)).ok ? true : undefined), LONG);
      }

      // No new sectors: each thread finishes the one it has.
      for (const config of configs) {
        const drained = await runCli(WORKER_BIN, ['worker', '-c', config, 'drain']);
        assert.equal(drained.code, 0, drained.stderr);
      }
      for (const [i, w] of workers.entries()) {
        await eventually(`worker w${i} drained`, async () => ((await w.list()).every((t) => t.job_stage === 'Drained') ? true : undefined), LONG).catch(async (err: unknown) => {
          throw new Error(`${(err as Error).message}; threads: ${JSON.stringify(await w.list())}`);
        });
      }
      // Allocations whose answer died with a manager are released by the orphan sweep of a manager that stayed up.
      await eventually('no sector left sealing', async () => ((await sql("select 1 from sectors where status = 'sealing'")).length === 0 ? true : undefined), LONG);

      const sectors = await sql<SectorRow>('select number, status, stage, latest_state, abort_reason, pieces from sectors where miner = 1000 order by number');
      const done = sectors.filter((s) => s.status === 'finalized');
      const aborted = sectors.filter((s) => s.status !== 'finalized');
      assert.ok(done.length >= SECTORS, `${done.length} sectors finalized`);
      // Every sector that did not finish is an allocation no worker ever heard of, released as an orphan.
      for (const s of aborted) {
        assert.equal(s.status, 'aborted', `sector ${s.number}: ${JSON.stringify(s)}`);
        assert.match(s.abort_reason ?? '', /^orphaned: /, `sector ${s.number} is aborted only as an orphan`);
        assert.equal(s.latest_state, null, `orphan ${s.number} was never reported on`);
        assert.deepEqual(JSON.parse(s.pieces ?? '[]'), [], `orphan ${s.number} holds no piece`);
      }
      // Numbers: each used once, from 1 on with no gap, and the counter at the last one.
      const last = Number((await sql<{ last: string }>('select last from sector_numbers where miner = 1000'))[0]?.last);
      assert.deepEqual(sectors.map((s) => Number(s.number)), Array.from({ length: last }, (_, k) => k + 1), 'sector numbers are 1..last, each once');

      // Pieces: every one sealed, in exactly one sector, the one its row names.
      const pieces = await sql<{ cid: string; status: string; sector_number: string | null }>('select cid, status, sector_number from pieces');
      assert.equal(pieces.length, PIECES);
      const holders = new Map<string, number[]>();
      for (const s of done) {
        for (const p of JSON.parse(s.pieces ?? '[]') as SectorPieceV2[]) holders.set(p.Piece.PieceCID['/'], [...(holders.get(p.Piece.PieceCID['/']) ?? []), Number(s.number)]);
      }
      for (const p of pieces) {
        assert.equal(p.status, 'sealed', `piece ${p.cid}`);
        assert.deepEqual(holders.get(p.cid), [Number(p.sector_number)], `piece ${p.cid} is in exactly one sector, the one its row names`);
      }

      // The chain's own log: one pre-commit and one prove per finished sector, none for an orphan, all landed.
      const messages = devnetMinerMessages(devnet.home);
      for (const kind of ['precommit', 'prove'] as const) {
        const carrying = new Map<number, string[]>();
        for (const m of messages.filter((x) => x.kind === kind)) {
          assert.equal(m.exitCode, 0, `${kind} message ${m.cid} landed with exit code 0`);
          for (const n of m.sectors) carrying.set(n, [...(carrying.get(n) ?? []), m.cid]);
        }
        for (const s of done) assert.equal(carrying.get(Number(s.number))?.length, 1, `sector ${s.number}: exactly one ${kind} message (${carrying.get(Number(s.number))?.join(', ') ?? 'none'})`);
        for (const s of aborted) assert.equal(carrying.get(Number(s.number)), undefined, `orphan ${s.number}: no ${kind} message`);
      }
      t.diagnostic(
        `${kills} kills; ${done.length} sectors finalized, ${aborted.length} orphans released; allocations per manager ${allocatedBy.join(', ')}; ` +
          `${messages.filter((m) => m.kind === 'precommit').length} pre-commit and ${messages.filter((m) => m.kind === 'prove').length} prove messages`,
      );
      assert.ok(kills >= MIN_KILLS, `${kills} kills`);
      assert.ok(allocatedBy.filter((n) => n > 0).length >= 2, `calls spread over the managers: allocations per manager ${allocatedBy.join(', ')}`);
    } finally {
      for (const w of workers) await w.daemon.kill();
      for (const m of managers) await m.daemon.kill();
      await devnet.daemon.kill();
    }
  });

  it('are one auth domain: a token of one is good on the others, and a rotation through any of them, or offline with --db, reaches all', async () => {
    const { root, dirs, devnet, db } = await clusterBase('multi-auth');
    const [a, b] = [join(root, 'a'), join(root, 'b')] as [string, string];
    const start = async (home: string) => startClusterManager(home, { chainApi: devnet.url, db, listen: '127.0.0.1:0', managerToml: managerToml(dirs) });
    const managers = [await start(a), await start(b)];
    const [ma, mb] = managers as [TestManager, TestManager];
    const tokenOf = (home: string) => readFileSync(join(home, 'token'), 'utf8').trim();
    const asks = (m: TestManager, token: string) => new RpcClient({ url: `${m.url}/rpc/v0`, token, timeoutMs: 10_000 }).call('SealFleet.SectorsList', [{}]);
    const refuses = async (m: TestManager, token: string) => (await asks(m, token).then(() => false, (err: Error) => /token signature invalid/.test(err.message))) || undefined;
    try {
      const first = tokenOf(a);
      assert.equal(tokenOf(b), first, 'one secret: the same admin token in both homes');
      await asks(mb, first);

      const rotated = await runCli(MANAGER_BIN, ['auth', 'rotate-secret', '--home', a]);
      assert.equal(rotated.code, 0, rotated.stderr);
      await assert.rejects(asks(ma, first), /token signature invalid/);
      // The other manager takes the rotation from the database within SECRET_POLL_MS, and copies it into its home.
      await eventually('b refuses the old token', () => refuses(mb, first));
      await eventually("b's home holds the new secret", async () => (tokenOf(b) === tokenOf(a) ? true : undefined));
      await asks(mb, tokenOf(a));

      // Offline, a home on PostgreSQL rotates in the database: the running manager follows.
      await mb.daemon.kill();
      managers.pop();
      const before = tokenOf(a);
      const refused = await runCli(MANAGER_BIN, ['auth', 'rotate-secret', '--home', b]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /runs on a PostgreSQL database .*: pass that database with --db/);
      const offline = await runCli(MANAGER_BIN, ['auth', 'rotate-secret', '--home', b, '--db', db]);
      assert.equal(offline.code, 0, offline.stderr);
      await eventually('a refuses the token from before the offline rotation', () => refuses(ma, before));
      await asks(ma, tokenOf(b));
    } finally {
      for (const m of managers) await m.daemon.kill();
      await devnet.daemon.kill();
    }
  });
});
