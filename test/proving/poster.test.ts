import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { fromRunsJson } from '../../src/chain/bitfield.js';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { openDatabase } from '../../src/manager/db/open.js';
import { devnetPostsByDeadline, devnetProvenOpenings, provingDevnetToml, startTestDevnet, TEST_MINER, type TestDevnet } from '../helpers/devnet.js';
import { eventually, homeDatabaseUrl, managerDbArgs, type TestManager } from '../helpers/manager.js';
import { createTestDatabase, testStore } from '../helpers/postgres.js';
import { MANAGER_BIN, runCli, spawnCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig } from '../helpers/worker.js';

/** Four deadlines of 20 epochs of 200 ms: a proving period every 16 s; faults declared 8 epochs before a deadline opens. */
const WINDOW = 20;
const PERIOD = 4 * WINDOW;
const DEVNET_TOML = provingDevnetToml(WINDOW);

/** The manager of the devnet in `net`, as its own process, so the chain goes on while the manager is down. */
async function startPoster(home: string, net: TestDevnet, sectors: number, shared?: { db: string; persist: string }): Promise<TestManager> {
  const toml = defaultDevnetConfig(shared?.persist ?? join(home, 'persist'))
    .replace('poll_interval = "1s"', 'poll_interval = "200ms"\n\n[proving]\nproofs = "mock"')
    .replace('init_number = 0', `init_number = 0\nmax_number = ${sectors}`);
  writeFileSync(join(home, 'manager.toml'), toml);
  const daemon = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--chain-api', net.url, '--listen', '127.0.0.1:0', ...(shared ? ['--db', shared.db] : await managerDbArgs(home))]);
  const line = await daemon.waitFor(/"manager up"/, 30_000);
  const url = (JSON.parse(line) as { url: string }).url;
  const rpc = new RpcClient({ url: `${url}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim(), timeoutMs: 20_000 });
  return { home, url, rpc, daemon, call: (m, p = []) => rpc.call(m, p) };
}

/** Seals `count` CC sectors on mock processors, then stops the worker. */
async function sealSectors(m: TestManager, count: number, persist = join(m.home, 'persist')): Promise<SectorSummary[]> {
  const worker = await startTestWorker(await writeWorkerConfig(tempDir('poster-worker'), m, { attached: [{ name: 'local', location: persist }] }));
  try {
    return await eventually(
      `${count} sealed sectors`,
      async () => {
        const done = await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
        return done.length >= count ? done : undefined;
      },
      180_000,
    );
  } finally {
    await worker.daemon.kill();
  }
}

const cli = async (home: string, args: string[]): Promise<unknown> => {
  const r = await runCli(MANAGER_BIN, ['util', 'sealer', ...args, '--home', home, '--json']);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
};
const faults = async (home: string): Promise<string[]> => ((await cli(home, ['proving', 'faults', '--miner', 't01000'])) as { Sector: string }[]).map((f) => f.Sector);
const history = async (home: string, sector: string): Promise<SectorEvent[]> => (await cli(home, ['sectors', 'log', sector])) as SectorEvent[];

/** Waits until the chain is `periods` whole proving periods past now; returns the current deadline then. */
async function waitPeriods(net: TestDevnet, periods: number) {
  const start = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
  return eventually('proving periods to pass', async () => {
    const dl = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
    return dl.PeriodStart >= start.PeriodStart + periods * PERIOD ? dl : undefined;
  }, periods * 40_000);
}

/** Asserts that every deadline holding sectors was proven in each of the last `periods` whole periods, once. */
async function assertProvenEveryDeadline(net: TestDevnet, periods: number): Promise<void> {
  const dl = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
  const withSectors: number[] = [];
  for (let i = 0; i < dl.WPoStPeriodDeadlines; i++) {
    // Sectors live now were live all along (a terminated one stays listed in its partition, not live).
    const parts = await net.lotus.stateMinerPartitions(TEST_MINER.address, i);
    if (parts.some((p) => fromRunsJson(p.LiveSectors).length > 0)) withSectors.push(i);
  }
  assert.ok(withSectors.length > 0, 'some deadline holds live sectors');
  const proven = devnetProvenOpenings(net.home);
  for (let k = 1; k <= periods; k++) {
    for (const i of withSectors) {
      const open = dl.PeriodStart - k * PERIOD + i * WINDOW;
      assert.ok(proven.has(open), `deadline ${i} opening at epoch ${open} was proven`);
    }
  }
  const offset = dl.PeriodStart % PERIOD;
  const messages = devnetPostsByDeadline(net.home, PERIOD, offset);
  const keys = messages.map((m) => m.key);
  assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'no deadline got two proof messages');
  assert.deepEqual(messages.filter((m) => m.exitCode !== null && m.exitCode !== 0), [], 'every proof message succeeded');
}

describe('the manager proves', () => {
  it('proves every deadline, skips and declares a sector whose files are gone, recovers it, extends and terminates', async () => {
    const net = await startTestDevnet(tempDir('poster-devnet'), { toml: DEVNET_TOML, blockTime: '200ms' });
    const home = tempDir('poster');
    const m = await startPoster(home, net, 3);
    try {
      const sealed = await sealSectors(m, 3);
      const [a, b, c] = sealed.map((s) => s.Sector).sort() as [string, string, string];

      await waitPeriods(net, 3);
      assert.deepEqual(await faults(home), [], 'no sector is faulty');
      assert.deepEqual(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)), [], 'the devnet has no faults');
      await assertProvenEveryDeadline(net, 2);
      const info = (await cli(home, ['proving', 'info', '--miner', 't01000'])) as { Deadlines: number; ProvingPeriod: number; Faults: number };
      assert.deepEqual({ deadlines: info.Deadlines, period: info.ProvingPeriod, faults: info.Faults }, { deadlines: 4, period: PERIOD, faults: 0 });
      const deadlines = (await cli(home, ['proving', 'deadlines', '--miner', 't01000'])) as { Sectors: number; Current: boolean }[];
      assert.equal(deadlines.reduce((sum, d) => sum + d.Sectors, 0), 3, 'the deadlines hold the three sectors');
      assert.equal(deadlines.filter((d) => d.Current).length, 1);

      // Sector a's sealed file leaves the persist store: it is declared faulty (or skipped when its deadline is near).
      const sealedFile = join(home, 'persist', 'sealed', a);
      renameSync(sealedFile, `${sealedFile}.moved`);
      const checked = await runCli(MANAGER_BIN, ['util', 'sealer', 'proving', 'check', a, '--home', home, '--json']);
      assert.equal(checked.code, 1);
      assert.match((JSON.parse(checked.stdout) as { Reason: string }).Reason, /missing in persist store "local"/);
      await eventually('sector a listed in proving faults', async () => ((await faults(home)).includes(a) ? true : undefined), 60_000);
      const number = (s: string): number => Number(s.split('-').at(-1));
      assert.ok(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)).includes(number(a)), 'the devnet has it faulty');
      const declared = (await history(home, a)).filter((e) => e.Event === 'FaultDeclared' || e.Event === 'PoStSkipped');
      assert.ok(declared.length > 0, 'its history says it was declared faulty or skipped');
      assert.match(declared[0]?.FailureDesc ?? '', new RegExp(`missing in persist store "local": .*sealed/${a}`));

      // The file comes back: a recovery is declared, and the sector is proven again.
      renameSync(`${sealedFile}.moved`, sealedFile);
      await eventually('sector a recovered', async () => ((await faults(home)).includes(a) ? undefined : true), 60_000);
      await eventually('its history records the recovery', async () => {
        const events = (await history(home, a)).map((e) => e.Event);
        return events.includes('RecoveryDeclared') && events.includes('Recovered') ? true : undefined;
      }, 60_000);

      // b is extended, c terminated, through the CLI; the devnet agrees.
      const before = (await net.lotus.stateSectorGetInfo(TEST_MINER.address, number(b)))?.Expiration ?? 0;
      const extended = (await cli(home, ['sectors', 'extend', b, '--to', String(before + 500)])) as { Sectors: { To: number }[] };
      assert.equal(extended.Sectors[0]?.To, before + 500);
      await eventually('b extended on chain', async () => ((await net.lotus.stateSectorGetInfo(TEST_MINER.address, number(b)))?.Expiration === before + 500 ? true : undefined), 30_000);
      const extendedEvent = await eventually('the extension in b\'s history', async () => (await history(home, b)).find((e) => e.Event === 'ExpirationExtended'), 30_000);
      assert.match(extendedEvent.FailureDesc ?? '', new RegExp(`^from epoch ${before} to ${before + 500}; message \\w+ landed at epoch \\d+$`));
      // An extension the actor refuses (past its maximum extension) is recorded as failed, and changes nothing.
      const tooFar = (await cli(home, ['sectors', 'extend', b, '--to', String(before + 100_000_000)])) as { Cid: string };
      const failed = await eventually('the refused extension in b\'s history', async () => (await history(home, b)).find((e) => e.Event === 'ChainMessageFailed'), 30_000);
      assert.match(failed.FailureDesc ?? '', new RegExp(`^ExtendSectorExpiration2 \\(ExpirationExtended\\) failed with exit code 16: from epoch ${before + 500} to ${before + 100_000_000}; message ${tooFar.Cid} `));
      assert.equal((await net.lotus.stateSectorGetInfo(TEST_MINER.address, number(b)))?.Expiration, before + 500);
      const expiring = (await cli(home, ['sectors', 'check-expire', '--miner', 't01000', '--within', '100000000'])) as { Sector: string; Expiration: number }[];
      assert.equal(expiring.find((e) => e.Sector === b)?.Expiration, before + 500);
      // The deadline of c may be the one being proven, or the next: the manager says so, and it is tried again.
      await eventually('c terminated', async () => {
        const r = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'terminate', c, '--home', home]);
        if (r.code !== 0) {
          assert.match(r.stderr, /which is being proven or is next/);
          return undefined;
        }
        return true;
      }, 60_000);
      await eventually('c gone from the chain', async () => ((await net.lotus.stateSectorGetInfo(TEST_MINER.address, number(c))) === null ? true : undefined), 30_000);
      await eventually('the termination in c\'s history', async () => ((await history(home, c)).some((e) => e.Event === 'Terminated') ? true : undefined), 30_000);
      const expired = (await cli(home, ['sectors', 'expired', '--miner', 't01000'])) as { Sector: string }[];
      assert.deepEqual(expired.map((e) => e.Sector), [c]);

      // Proving goes on over the rest: no faults.
      await waitPeriods(net, 1);
      assert.deepEqual(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)), []);
      await assertProvenEveryDeadline(net, 1);

      // Bad input gets a clear refusal.
      const bad = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'extend', b, '--home', home]);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /expected exactly one of --to <epoch> or --by <days>/);
      const badTo = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'extend', b, '--to', 'soon', '--home', home]);
      assert.match(badTo.stderr, /invalid epoch "soon": expected a positive integer/);
    } finally {
      await m.daemon.kill();
      await net.daemon.kill();
    }
  });

  it('a manager killed during a deadline proves it after its restart, and never twice', async () => {
    const net = await startTestDevnet(tempDir('poster-devnet'), { toml: DEVNET_TOML, blockTime: '200ms' });
    const home = tempDir('poster-restart');
    let m = await startPoster(home, net, 2);
    try {
      await sealSectors(m, 2);
      await waitPeriods(net, 1);
      // Killed as a deadline holding sectors opens, before or right after its proof is pushed.
      const dl = await eventually('a deadline with sectors opening', async () => {
        const d = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
        if (d.CurrentEpoch > d.Open + 1) return undefined;
        return (await net.lotus.stateMinerPartitions(TEST_MINER.address, d.Index)).length > 0 ? d : undefined;
      }, 60_000);
      await m.daemon.kill('SIGKILL');
      m = await startPoster(home, net, 2);
      await eventually('the deadline proven', async () => (devnetProvenOpenings(net.home).has(dl.Open) ? true : undefined), 30_000);

      // Killed after claiming the next deadline with sectors but before pushing its proof: the restarted
      // manager finds the claim, no proof on chain, and proves the deadline.
      await m.daemon.kill('SIGKILL');
      const now = await net.lotus.stateMinerProvingDeadline(TEST_MINER.address);
      let next = { index: -1, open: 0, periodStart: 0 };
      // One far enough ahead for the manager to be back when it opens.
      for (let step = 1; step <= 2 * now.WPoStPeriodDeadlines && next.index < 0; step++) {
        const index = (now.Index + step) % now.WPoStPeriodDeadlines;
        const open = now.Open + step * WINDOW;
        if (open - now.CurrentEpoch < WINDOW / 2 || (await net.lotus.stateMinerPartitions(TEST_MINER.address, index)).length === 0) continue;
        next = { index, open, periodStart: open - index * WINDOW };
      }
      assert.ok(next.index >= 0, 'a deadline with sectors comes next');
      const db = await openDatabase(home, testStore() === 'sqlite' ? { kind: 'sqlite' } : { kind: 'postgres', url: homeDatabaseUrl(home) }, pino({ level: 'silent' }));
      try {
        const at = Date.now();
        await db
          .insertInto('post_submissions')
          .values({ miner: TEST_MINER.id, period_start: next.periodStart, deadline: next.index, partitions: '{"partitions":[0],"skipped":[],"recovering":[]}', claimed_epoch: now.CurrentEpoch, state: 'claimed', cid: null, exit_code: null, error: null, created_at: at, updated_at: at })
          .execute();
      } finally {
        await db.destroy();
      }
      m = await startPoster(home, net, 2);
      await m.daemon.waitFor(/a claimed proof was never pushed/, 60_000);
      await eventually('the claimed deadline proven', async () => (devnetProvenOpenings(net.home).has(next.open) ? true : undefined), 30_000);

      await waitPeriods(net, 2);
      assert.deepEqual(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)), [], 'no sector became faulty');
      await assertProvenEveryDeadline(net, 2);
    } finally {
      await m.daemon.kill();
      await net.daemon.kill();
    }
  });
});

const PG = process.env.SEALFLEET_TEST_PG;
describe('several managers on one database', { skip: PG ? false : 'SEALFLEET_TEST_PG is not set: several managers need a PostgreSQL server' }, () => {
  it('one proof per deadline however many managers follow it', async () => {
    const net = await startTestDevnet(tempDir('poster-devnet'), { toml: DEVNET_TOML, blockTime: '200ms' });
    const shared = { db: await createTestDatabase(), persist: join(tempDir('poster-shared'), 'persist') };
    const managers = [await startPoster(tempDir('poster-a'), net, 2, shared)];
    try {
      await sealSectors(managers[0] as TestManager, 2, shared.persist);
      managers.push(await startPoster(tempDir('poster-b'), net, 2, shared), await startPoster(tempDir('poster-c'), net, 2, shared));
      await waitPeriods(net, 3);
      assert.deepEqual(fromRunsJson(await net.lotus.stateMinerFaults(TEST_MINER.address)), [], 'no sector became faulty');
      await assertProvenEveryDeadline(net, 2);
    } finally {
      for (const m of managers) await m.daemon.kill();
      await net.daemon.kill();
    }
  });
});
