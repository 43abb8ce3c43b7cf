import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fleetAvailable } from '../fleet/netns.js';
import { renderReport, replayCommand, runChaos, type ChaosStore } from './chaos.js';

/** The short chaos run, on PostgreSQL with two managers when a server is given, else on SQLite with one. */
describe('chaos: kills, cut links and a full disk on the fleet harness', () => {
  it('seals through the short chaos run with nothing lost or done twice', { timeout: 900_000 }, async (t) => {
    if (!(await fleetAvailable(t))) return;
    const pgServer = process.env.SEALFLEET_TEST_PG || undefined;
    const store: ChaosStore = pgServer ? 'postgres' : 'sqlite';
    // A new seed each run, so CI explores; SEALFLEET_CHAOS_SEED replays one.
    const seed = process.env.SEALFLEET_CHAOS_SEED ? Number(process.env.SEALFLEET_CHAOS_SEED) : Math.floor(Math.random() * 0xffffffff);
    assert.ok(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff, `invalid SEALFLEET_CHAOS_SEED "${process.env.SEALFLEET_CHAOS_SEED}": expected a whole number from 0 to 4294967295`);
    const replay = replayCommand({ seed, short: true, store });
    t.diagnostic(`seed ${seed}: ${replay}`);
    const report = await runChaos({ seed, short: true, store, ...(pgServer ? { pgServer } : {}), log: (line) => t.diagnostic(line) }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nreplay with: ${replay}`);
    });
    for (const line of renderReport(report).trimEnd().split('\n')) t.diagnostic(line);
    const failed = report.checks.filter((c) => !c.ok);
    assert.deepEqual(failed, [], `failed checks; replay with: ${replay}`);
    for (const kind of ['kill-worker', 'kill-manager', 'kill-devnet', 'cut-link', 'disk-full'] as const) assert.ok(report.faults[kind] >= 1, `${kind} happened`);
  });
});
