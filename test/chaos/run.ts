import { parseArgs } from 'node:util';
import { z } from 'zod';
import { fleetUnavailable } from '../fleet/netns.js';
import { renderReport, replayCommand, runChaos, type ChaosStore } from './chaos.js';

/** `npm run chaos [-- --short] [--seed N] [--store sqlite|postgres]`: the chaos run, its table, and exit 1 on any failed check. */

const USAGE = 'usage: npm run chaos -- [--short] [--seed N] [--store sqlite|postgres]';

const Seed = z.string().regex(/^\d{1,10}$/).transform(Number).refine((n) => n <= 0xffffffff);
const Store = z.enum(['sqlite', 'postgres']);

function options(): { short: boolean; seed: number; store: ChaosStore; pgServer?: string } {
  let parsed;
  try {
    parsed = parseArgs({ options: { short: { type: 'boolean' }, seed: { type: 'string' }, store: { type: 'string' } }, strict: true, allowPositionals: false });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${USAGE}`);
  }
  const v = parsed.values;
  const seed = v.seed === undefined ? Math.floor(Math.random() * 0xffffffff) : Seed.safeParse(v.seed).data;
  if (seed === undefined) throw new Error(`invalid --seed "${v.seed}": expected a whole number from 0 to 4294967295`);
  const pgServer = process.env.SEALFLEET_TEST_PG || undefined;
  const store = v.store === undefined ? (pgServer ? 'postgres' : 'sqlite') : Store.safeParse(v.store).data;
  if (store === undefined) throw new Error(`invalid --store "${v.store}": expected sqlite or postgres`);
  if (store === 'postgres' && !pgServer) {
    throw new Error('--store postgres needs SEALFLEET_TEST_PG, the URL of a PostgreSQL server to create the managers\' database on, e.g. postgres://postgres@/postgres?host=/var/run/postgresql');
  }
  return { short: v.short ?? false, seed, store, ...(pgServer ? { pgServer } : {}) };
}

async function main(): Promise<number> {
  const o = options();
  const why = await fleetUnavailable();
  if (why !== null) throw new Error(`the chaos run needs the multi-host harness: ${why}`);
  const replay = replayCommand(o);
  process.stderr.write(`chaos: seed ${o.seed} (${replay})\n`);
  let report;
  try {
    report = await runChaos({ ...o, log: (line) => process.stderr.write(`${line}\n`) });
  } catch (err) {
    process.stderr.write(`chaos run failed: ${(err as Error).message}\nreplay with: ${replay}\n`);
    return 1;
  }
  process.stdout.write(renderReport(report));
  if (report.checks.every((c) => c.ok)) return 0;
  process.stdout.write(`replay with: ${replay}\n`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
