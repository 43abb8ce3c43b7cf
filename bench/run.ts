import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../src/core/units.js';
import { benchDevnet } from './devnet.js';
import { benchFleet, FLEET_DEFAULTS, type FleetOptions } from './fleet.js';
import type { BenchOutput } from './lib.js';
import { benchManager } from './manager.js';
import { benchManagers } from './managers.js';
import { benchProofs } from './proofs.js';
import { commit, machine, writeReport } from './report.js';
import { benchWorkerMemory, benchWorkerPipeline } from './worker.js';

/** Every bench, in the order of BENCHMARKS.md; each returns its figures against baselines from the same run. */
const BENCHES: Record<string, (fleet: FleetOptions) => Promise<BenchOutput>> = {
  devnet: async () => ({ figures: await benchDevnet() }),
  manager: async () => ({ figures: await benchManager() }),
  managers: async () => ({ figures: await benchManagers() }),
  worker: async () => ({ figures: [await benchWorkerPipeline(10, 1), await benchWorkerPipeline(40, 8), await benchWorkerMemory()] }),
  proofs: async () => ({ figures: await benchProofs() }),
  fleet: (options) => benchFleet(options),
};
const NAMES = Object.keys(BENCHES);

const usage = (): string => `usage: npm run bench -- [bench ...] [--out FILE] [--max-n N] [--duration D] [--scale S] [--search-steps K]
  bench: any of ${NAMES.join(', ')} (default: all); --out: the file to (re)write, default BENCHMARKS.md;
  fleet only (every N is real sealing threads): --max-n (largest N, default ${FLEET_DEFAULTS.maxN}), --duration (measured time per point, default ${FLEET_DEFAULTS.durationMs / 1000}s),
  --scale S (N real threads are played by round(N / S) simulated ones, each as many real ones as it takes, default ${FLEET_DEFAULTS.scale}),
  --search-steps (extra points bisecting for the largest N with p99 < 50 ms, default ${FLEET_DEFAULTS.searchSteps})`;

function fail(message: string): never {
  console.error(`${message}\n${usage()}`);
  process.exit(2);
}

function positiveInt(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) fail(`--${flag} ${JSON.stringify(text)}: expected a whole number ≥ 1`);
  return n;
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: { out: { type: 'string' }, 'max-n': { type: 'string' }, duration: { type: 'string' }, scale: { type: 'string' }, 'search-steps': { type: 'string' }, help: { type: 'boolean' } },
  });
}
try {
  parsed = parse();
} catch (err) {
  fail((err as Error).message);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage());
  process.exit(0);
}
const unknown = positionals.filter((p) => !NAMES.includes(p));
if (unknown.length) fail(`unknown bench ${unknown.map((u) => JSON.stringify(u)).join(', ')}: expected any of ${NAMES.join(', ')}`);
let durationMs = FLEET_DEFAULTS.durationMs;
if (values.duration !== undefined) {
  try {
    durationMs = parseDuration(values.duration);
  } catch (err) {
    fail(`--duration: ${(err as Error).message}`);
  }
  if (durationMs < 1000) fail(`--duration ${JSON.stringify(values.duration)}: expected at least 1s`);
}
const fleet: FleetOptions = {
  maxN: positiveInt('max-n', values['max-n'], FLEET_DEFAULTS.maxN),
  durationMs,
  scale: positiveInt('scale', values.scale, FLEET_DEFAULTS.scale),
  searchSteps: values['search-steps'] === '0' ? 0 : positiveInt('search-steps', values['search-steps'], FLEET_DEFAULTS.searchSteps),
};
const selected = positionals.length ? NAMES.filter((n) => positionals.includes(n)) : NAMES;
const out = values.out ?? fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));

const at = { commit: commit(), machine: machine() };
const fleetFlags = [
  values['max-n'] !== undefined ? `--max-n ${fleet.maxN}` : '',
  values.duration !== undefined ? `--duration ${values.duration}` : '',
  values.scale !== undefined ? `--scale ${fleet.scale}` : '',
  values['search-steps'] !== undefined ? `--search-steps ${fleet.searchSteps}` : '',
].filter(Boolean);
const results = [];
for (const bench of selected) {
  const started = new Date();
  const output = await (BENCHES[bench] as (typeof BENCHES)[string])(fleet);
  for (const f of output.figures) console.log(`${bench} | ${f.figure}: ${f.measured} | baseline ${f.baseline} | ratio ${f.ratio} | target ${f.target}: ${f.verdict}`);
  const command = ['npm run bench --', bench, ...(bench === 'fleet' ? fleetFlags : [])].join(' ');
  results.push({ bench, run: { ...at, date: started.toISOString().slice(0, 16).replace('T', ' '), command }, output });
  // Written after every bench: an interrupted run keeps what it measured.
  writeReport(out, results, NAMES);
}
console.log(`wrote ${out}`);
