import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { Recorded } from '../fixtures/recordingProcessor.js';
import { eventually, type TestManager } from './manager.js';
import { freePort, ROOT, spawnCli, type Spawned } from './processes.js';

export const WORKER_BIN = join(ROOT, 'bin', 'sealfleet-worker.js');

export interface WorkerOptions {
  threads?: { plan: string }[];
  mock?: string;
  /** Replaces the whole `[processors]` part (default: mock processors with 20ms stages, plus `mock`). */
  processors?: string;
  sealing?: string;
  /** `[sealing] max_retries` (default 3: with the 200ms recover_interval, a budget of about 1.4 s). */
  maxRetries?: number;
  port?: number;
  /** Extra `[worker]` lines. */
  worker?: string;
  /** `rpc_client.addr` as a list of these (default: the one address of `m`). */
  managerAddrs?: string[];
  /** Persist stores by name (default: "local" at the manager's own persist path). */
  attached?: { name: string; location: string }[];
  /** `[worker] name` (default "test-worker"). */
  name?: string;
  /** `[sector_manager] token` (default: the admin token in the manager's home). */
  token?: string;
}

/** A worker config against `m` with quick timings; threads live under `<dir>/thread-<i>`. Benchmarks use it too. */
export async function writeWorkerConfig(dir: string, m: Pick<TestManager, 'url' | 'home'>, opts: WorkerOptions = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const threads = (opts.threads ?? [{ plan: 'sealer' }, { plan: 'sealer' }])
    .map((t, i) => `[[sealing_thread]]\nlocation = "thread-${i}"\nplan = "${t.plan}"\n`)
    .join('\n');
  const path = join(dir, 'worker.toml');
  writeFileSync(path, `
[worker]
name = ${JSON.stringify(opts.name ?? 'test-worker')}
ping_interval = "500ms"
rpc_server.port = ${opts.port ?? (await freePort())}
${opts.worker ?? ''}

[sector_manager]
rpc_client.addr = ${JSON.stringify(opts.managerAddrs ?? m.url)}
token = ${JSON.stringify(opts.token ?? readFileSync(join(m.home, 'token'), 'utf8').trim())}

[sealing]
seal_interval = "300ms"
recover_interval = "200ms"
rpc_polling_interval = "200ms"
max_retries = ${opts.maxRetries ?? 3}
enable_deals = true
${opts.sealing ?? ''}

${threads}
${(opts.attached ?? [{ name: 'local', location: join(m.home, 'persist') }]).map((a) => `[[attached]]\nname = "${a.name}"\nlocation = "${a.location}"\n`).join('\n')}
${opts.processors ?? `[processors]\ndefault = "mock"\n\n[processors.mock]\nstage_time = "20ms"\n${opts.mock ?? ''}`}
`);
  return path;
}

export interface TestWorker {
  daemon: Spawned;
  control: RpcClient;
  list(): Promise<WorkerThreadInfo[]>;
}

/** `env` is added to the daemon's environment (which its external processors inherit). */
export async function startTestWorker(configPath: string, env: Record<string, string> = {}): Promise<TestWorker> {
  const daemon = spawnCli(WORKER_BIN, ['daemon', '-c', configPath], env);
  const line = await daemon.waitFor(/"worker up"/, 20_000);
  const control = new RpcClient({ url: (JSON.parse(line) as { control: string }).control, timeoutMs: 10_000 });
  return { daemon, control, list: () => control.call<WorkerThreadInfo[]>('VenusWorker.WorkerList') };
}

/** Waits until every thread of `w` holds a sector, then drains the worker: one sector per thread. */
export async function oneSectorPerThread(w: TestWorker, threads: number): Promise<void> {
  await eventually('every thread holds a sector', async () => ((await w.list()).filter((t) => t.job_id).length === threads ? true : undefined), 60_000);
  await w.control.call('VenusWorker.WorkerDrain', [null]);
}

const RECORDING_PROCESSOR = fileURLToPath(new URL('../fixtures/recordingProcessor.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

/**
 * A `[[processors.<stage>]]` entry running test/fixtures/recordingProcessor.ts, which records its tasks in
 * `record`; `keys` are more TOML lines of the entry.
 */
export function recordingProcessorEntry(stage: string, record: string, opts: { delayMs?: number; envs?: Record<string, string>; keys?: string } = {}): string {
  const envs = { RECORD_FILE: record, RECORD_DELAY_MS: String(opts.delayMs ?? 0), ...opts.envs };
  return `
[[processors.${stage}]]
bin = "${process.execPath}"
args = ["--import", "${TSX}", "${RECORDING_PROCESSOR}", "${stage}"]
stable_wait = "60s"
envs = { ${Object.entries(envs).map(([k, v]) => `${k} = "${v}"`).join(', ')} }
${opts.keys ?? ''}
`;
}

/** What a recording processor wrote to `file` so far. */
export function recordedTasks(file: string): Recorded[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Recorded);
}
