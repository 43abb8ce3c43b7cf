import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import { FAST_DEVNET_TOML, QUICK_CHAIN_TOML } from '../helpers/manager.js';
import { MANAGER_BIN, type Spawned } from '../helpers/processes.js';
import { WORKER_BIN } from '../helpers/worker.js';
import type { FleetHost } from './netns.js';

/** The port every fleet daemon listens on: each host has its own network, so one number serves all. */
export const MANAGER_PORT = 1789;
export const CONTROL_PORT = 17890;

type CliResult = { code: number | null; stdout: string; stderr: string };

/** Parses a CLI's `--json` output, failing with what the command printed when it did not succeed. */
function jsonOf<T>(what: string, r: CliResult): T {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as T;
}

export interface FleetManager {
  host: FleetHost;
  home: string;
  /** `/ip4/<host address>/tcp/<port>`, for worker configs. */
  multiaddr: string;
  daemon: Spawned;
  /** `sealfleet-manager util <args> --home <home>`, run on the manager's host. */
  util(...args: string[]): Promise<CliResult>;
  /** The same with `--json`, parsed. */
  utilJson<T>(...args: string[]): Promise<T>;
  /** A write token bound to the worker name, as an operator makes one for each worker. */
  workerToken(name: string): Promise<string>;
}

export interface FleetManagerOptions {
  stores: { name: string; path: string }[];
  importDir: string;
  /**
   * The chain as a devnet of its own (see startFleetDevnet), and the manager's database (a PostgreSQL URL, or
   * null for the SQLite file in its home); without it, the manager runs the devnet in its own process.
   */
  cluster?: { chainApi: string; db: string | null };
  /** Extra `[pieces]` lines. */
  pieces?: string[];
  /** Tables appended to manager.toml. */
  toml?: string;
}

/**
 * `sealfleet-manager daemon` on `host`, listening on its fleet address, with the persist `stores` at the paths
 * the manager's host sees them, and deal imports read from `importDir`.
 */
export async function startFleetManager(host: FleetHost, home: string, opts: FleetManagerOptions): Promise<FleetManager> {
  mkdirSync(join(home, 'devnet'), { recursive: true });
  writeFileSync(join(home, 'devnet', 'devnet.toml'), FAST_DEVNET_TOML);
  const stores = opts.stores.map((s) => `[[persist_stores]]\nname = ${JSON.stringify(s.name)}\npath = ${JSON.stringify(s.path)}\n`).join('\n');
  writeFileSync(join(home, 'manager.toml'), `${QUICK_CHAIN_TOML}
${stores}
[pieces]
commitment = "typescript"
import_dirs = [${JSON.stringify(opts.importDir)}]
${(opts.pieces ?? []).join('\n')}
${opts.toml ?? ''}
`);
  const chain = opts.cluster ? ['--chain-api', opts.cluster.chainApi, ...(opts.cluster.db === null ? [] : ['--db', opts.cluster.db])] : ['--devnet'];
  const daemon = host.spawn(MANAGER_BIN, ['daemon', '--home', home, ...chain, '--listen', `${host.address}:${MANAGER_PORT}`]);
  await daemon.waitFor(/"manager up"/, 60_000);
  const util = (...args: string[]) => host.run(MANAGER_BIN, ['util', ...args, '--home', home]);
  return {
    host,
    home,
    multiaddr: `/ip4/${host.address}/tcp/${MANAGER_PORT}`,
    daemon,
    util,
    utilJson: async <T>(...args: string[]) => jsonOf<T>(`util ${args.join(' ')}`, await util(...args, '--json')),
    workerToken: async (name) => {
      const r = await host.run(MANAGER_BIN, ['auth', 'create-token', '--perm', 'write', '--worker', name, '--home', home]);
      if (r.code !== 0) throw new Error(`auth create-token --worker ${name} exited ${r.code}: ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
  };
}

/** The port a fleet devnet serves the Lotus API on. */
export const DEVNET_PORT = 1234;

/** `sealfleet-manager devnet` (the fast devnet) on `host`, for managers started with `cluster.chainApi` = `url`. */
export async function startFleetDevnet(host: FleetHost, home: string): Promise<{ daemon: Spawned; url: string }> {
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, 'devnet.toml'), FAST_DEVNET_TOML);
  const daemon = host.spawn(MANAGER_BIN, ['devnet', '--home', home, '--listen', `${host.address}:${DEVNET_PORT}`]);
  const line = await daemon.waitFor(/devnet up/, 60_000);
  return { daemon, url: (JSON.parse(line) as { url: string }).url };
}

export interface FleetWorkerSpec {
  name: string;
  /** The managers it calls, in this order (default: the one it gets its token from). */
  managers?: FleetManager[];
  /** The worker's own disk: its config and thread locations go here. */
  dir: string;
  /** `plan`, and lines for this thread's `sealing.*` (e.g. `sealing.enable_deals = true`). */
  threads: { plan: string; sealing?: string[] }[];
  /** Persist stores by name, at this host's path. */
  attached: { name: string; location: string }[];
  /** Extra `[sealing]` lines. */
  sealing?: string[];
  /** `[processors.mock]` lines (default: 50ms stages). */
  mock?: string[];
}

/**
 * A worker config for a fleet host: the control API open to the fleet network (with a token), the manager by
 * its fleet address with a token bound to the worker's name, quick timings, mock processors.
 */
export async function writeFleetWorkerConfig(m: FleetManager, spec: FleetWorkerSpec): Promise<string> {
  mkdirSync(spec.dir, { recursive: true });
  const path = join(spec.dir, 'worker.toml');
  const threads = spec.threads.map((t, i) => [`[[sealing_thread]]`, `location = "thread-${i}"`, `plan = "${t.plan}"`, ...(t.sealing ?? []), ''].join('\n')).join('\n');
  const attached = spec.attached.map((a) => `[[attached]]\nname = ${JSON.stringify(a.name)}\nlocation = ${JSON.stringify(a.location)}\n`).join('\n');
  writeFileSync(
    path,
    `
[worker]
name = "${spec.name}"
ping_interval = "500ms"
rpc_server.host = "0.0.0.0"
rpc_server.port = ${CONTROL_PORT}
rpc_server.token = "control-${spec.name}"

[sector_manager]
rpc_client.addr = ${JSON.stringify(spec.managers ? spec.managers.map((x) => x.multiaddr) : m.multiaddr)}
token = "${await m.workerToken(spec.name)}"

[sealing]
seal_interval = "300ms"
recover_interval = "200ms"
rpc_polling_interval = "200ms"
enable_deals = false
${(spec.sealing ?? []).join('\n')}

${threads}
${attached}
[processors]
default = "mock"

[processors.mock]
${(spec.mock ?? ['stage_time = "50ms"']).join('\n')}
`,
    { mode: 0o600 },
  );
  return path;
}

export interface FleetWorker {
  host: FleetHost;
  config: string;
  daemon: Spawned;
  /** `sealfleet-worker worker -c <config> list --json`, run on the worker's host. */
  list(): Promise<WorkerThreadInfo[]>;
  /** `worker drain`: every thread finishes its sector and takes no new one. */
  drain(): Promise<void>;
}

export async function startFleetWorker(host: FleetHost, config: string): Promise<FleetWorker> {
  const daemon = host.spawn(WORKER_BIN, ['daemon', '-c', config]);
  await daemon.waitFor(/"worker up"/, 60_000);
  return {
    host,
    config,
    daemon,
    list: async () => jsonOf<WorkerThreadInfo[]>('worker list', await host.run(WORKER_BIN, ['worker', '-c', config, 'list', '--json'])),
    drain: async () => {
      const r = await host.run(WORKER_BIN, ['worker', '-c', config, 'drain']);
      if (r.code !== 0) throw new Error(`worker drain exited ${r.code}: ${r.stderr.trim()}`);
    },
  };
}
