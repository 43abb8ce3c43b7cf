import { statSync, type Stats } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { isPlanName, PLAN_NAMES, type PlanName } from '../core/plans/index.js';
import { parseSectorSize } from '../core/proofTypes.js';
import { readTomlConfig } from '../core/tomlConfig.js';
import { formatSize, parseDuration, parseSize } from '../core/units.js';
import { parsedString } from '../core/validate.js';
import { isStage, STAGES, type Stage } from '../core/wire/processor.js';
import { WORKER_CONTROL_PORT } from '../core/wire/workerControl.js';
import { parseListen } from '../core/rpc/server.js';
import type { ExternalProcessorConfig } from '../core/processor/external.js';
import { parseCpuList } from '../core/processor/placement.js';
import { requireSidecar, SIDECAR_STAGES, sidecarEnv, sidecarProcessor, type Sidecar } from '../core/processor/sidecar.js';
import type { ProcessorKind, ProcessorsConfig } from './processors/types.js';
import { noEffect, noEffectText, takeNoEffectKeys } from './configCompat.js';
import type { AttachedStore } from './attachedStores.js';
import { scanPersistStores } from './storeScan.js';

export interface SealingConfig {
  /** Miner ids this thread seals for; null = any. */
  allowed_miners: number[] | null;
  /** Sector sizes in bytes; null = any. */
  allowed_sizes: number[] | null;
  enable_deals: boolean;
  max_deals: number | null;
  /** Bytes. */
  min_deal_space: number | null;
  /** Temporary-error retries of one state before the thread pauses. */
  max_retries: number;
  /** Pause between two sectors, ms. */
  seal_interval: number;
  /** Base of the retry backoff and the idle wait, ms. */
  recover_interval: number;
  /** On-chain and reserve-space polling, ms. */
  rpc_polling_interval: number;
  /** Send a sector whose ticket expired back to TreeDBuilt instead of failing its PreCommit. */
  ticket_expiry_check: boolean;
  /** With deals enabled, a sealer sector that got no deal piece waits for one instead of being sealed as CC. */
  disable_cc: boolean;
  /** Empty answers to a request for work (a sector, deals) before the thread rests `seal_interval` and asks anew. */
  request_task_max_retries: number;
  /** After PC2, run C1 with an all-zero seed over its output before submitting the PreCommit. */
  verify_after_pc2: boolean;
  /** After SubmitProof, do not poll for the proof to land. */
  ignore_proof_check: boolean;
}

export interface ThreadConfig {
  index: number;
  /** Absolute; null only for a `wdpost` thread, which keeps nothing on disk. */
  location: string | null;
  plan: PlanName;
  /** `[sealing]` merged with this thread's `sealing.*` overrides. */
  sealing: SealingConfig;
}

/**
 * Where a thread keeps its task and files: a sector plan's location, or null for a `wdpost` thread, which keeps
 * its job in memory only (as damocles) and so locks, shares and writes no directory, even one it was given.
 */
export function threadHome(t: ThreadConfig): string | null {
  switch (t.plan) {
    case 'wdpost':
      return null;
    case 'sealer':
    case 'snapup':
    case 'rebuild':
      if (t.location === null) throw new Error(`thread #${t.index}: a ${t.plan} thread needs a location`);
      return t.location;
    default: {
      const unhandled: never = t.plan;
      throw new Error(`unknown plan ${String(unhandled)}`);
    }
  }
}

export interface WorkerConfig {
  /** The config file, absolute. */
  path: string;
  worker: {
    /** null: damocles' default, the local address that routes to the manager, found when the daemon starts. */
    name: string | null;
    rpc_server: {
      host: string;
      port: number;
      token: string | null;
      /** The address the worker's pings give the manager to dial; port null = the port it listens on. */
      advertise: { host: string; port: number | null } | null;
    };
    /** ms */
    ping_interval: number;
    /** Absolute; searched for deal pieces (`<cid>`, `<cid>.car`) before the manager's piece store. */
    local_pieces_dirs: string[];
  };
  sector_manager: {
    /** `<scheme>://<host>:<port>/rpc/v0` of each manager in `rpc_client.addr`, in its order (one or more, no two alike). */
    urls: [string, ...string[]];
    /** null: calls carry no Authorization header (the manager must trust the worker's network). */
    token: string | null;
    /** damocles' `piece_token` as configured: for the piece store, and the only token a piece store's redirect gets. */
    piece_token: string | null;
    /** `rpc_client.headers`: sent with every call to the manager and to its piece store. */
    headers: Record<string, string>;
  };
  sealing: SealingConfig;
  threads: ThreadConfig[];
  /** `[[attached]]` and the stores found by `worker.scan_persist_stores`: the manager names a store, the worker uses its own location. */
  attached: AttachedStore[];
  processors: ProcessorsConfig;
  /** `[metrics]`: Prometheus metrics at `http://<http_listen>/metrics` when enabled. */
  metrics: { enable: boolean; http_listen: string };
  /** What the daemon logs once at start: damocles keys that have no effect here, values damocles ignores too. */
  warnings: string[];
}

export const SEALING_DEFAULTS: SealingConfig = {
  allowed_miners: null,
  allowed_sizes: null,
  enable_deals: false,
  max_deals: null,
  min_deal_space: null,
  max_retries: 5,
  seal_interval: 30_000,
  recover_interval: 60_000,
  rpc_polling_interval: 180_000,
  ticket_expiry_check: true,
  disable_cc: false,
  request_task_max_retries: 3,
  verify_after_pc2: false,
  ignore_proof_check: false,
};

const MULTIADDR = /^\/(ip4|ip6|dns|dns4|dns6)\/([^/]+)\/tcp\/(\d+)(?:\/(https?))?\/?$/;

/**
 * The manager's sealer API endpoint from `rpc_client.addr`: a multiaddr (`/ip4/10.0.0.2/tcp/1789`,
 * `/dns/mgr/tcp/1789/https`) or a URL, whose path is replaced because the API always lives at `/rpc/v0`.
 */
export function managerRpcUrl(addr: string): string {
  function refuse(): never {
    throw new Error(`invalid manager address "${addr}": expected a multiaddr like /ip4/127.0.0.1/tcp/1789 or an http(s) URL like http://127.0.0.1:1789`);
  }
  const text = addr.trim();
  if (text.startsWith('/')) {
    const match = MULTIADDR.exec(text);
    if (!match) refuse();
    const [, proto, host = '', port = '', scheme = 'http'] = match;
    const family = proto === 'ip4' ? 4 : proto === 'ip6' ? 6 : 0;
    if ((family !== 0 && isIP(host) !== family) || Number(port) < 1 || Number(port) > 65535) refuse();
    return `${scheme}://${family === 6 ? `[${host}]` : host}:${port}/rpc/v0`;
  }
  // `localhost:1789` parses too, as a URL of scheme "localhost:".
  const url = URL.canParse(text) ? new URL(text) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) refuse();
  return `${url.protocol}//${url.host}/rpc/v0`;
}

/** Hosts that mean "every interface": fine to listen on, useless to dial. */
export const isWildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';

const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** `rpc_server.advertise`: `host`, `host:port`, an IPv6 address, or `[IPv6]:port`. */
export function parseAdvertise(text: string): { host: string; port: number | null } {
  const refuse = (why: string): never => {
    throw new Error(`invalid address "${text}": ${why}`);
  };
  const expected = 'expected host, host:port or [IPv6]:port, e.g. 10.0.0.5 or 10.0.0.5:17890';
  const match = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? (isIP(text) === 6 ? [text, text] : /^([^:[\]]+)(?::(\d+))?$/.exec(text));
  if (!match) return refuse(expected);
  const host = match[1] as string;
  const port = match[2] === undefined ? null : Number(match[2]);
  if (text.startsWith('[') && isIP(host) !== 6) refuse(`"${host}" in brackets is not an IPv6 address; ${expected}`);
  if (isIP(host) === 0 && !DNS_NAME.test(host)) refuse(`"${host}" is neither an IP address nor a host name; ${expected}`);
  if (isWildcard(host)) refuse(`${host} means every interface, which no one can dial: give an address of this host the manager reaches`);
  if (port !== null && (port < 1 || port > 65535)) refuse(`port ${port} is out of range 1–65535`);
  return { host, port };
}

const duration = parsedString(parseDuration);
const nonNegativeInt = z.number().int().nonnegative();
const positiveInt = z.number().int().positive();
const required = (what: string) =>
  z.string({ error: (issue) => (issue.input === undefined ? `missing: expected ${what}` : undefined) }).min(1);

/** Every `[sealing]` key; a thread's `sealing.*` may set any subset of them. */
export const SealingSchema = z
  .strictObject({
    allowed_miners: z.array(nonNegativeInt),
    allowed_sizes: z.array(parsedString(parseSectorSize)),
    enable_deals: z.boolean(),
    max_deals: nonNegativeInt,
    min_deal_space: parsedString(parseSize),
    max_retries: nonNegativeInt,
    seal_interval: duration,
    recover_interval: duration,
    rpc_polling_interval: duration,
    ticket_expiry_check: z.boolean(),
    disable_cc: z.boolean(),
    request_task_max_retries: nonNegativeInt,
    verify_after_pc2: z.boolean(),
    ignore_proof_check: z.boolean(),
  })
  .partial();

/** Stages of damocles that sealfleet does not run: accepted where damocles takes a stage name, with no effect. */
const DAMOCLES_ONLY_STAGES: readonly string[] = ['unseal', 'winning_post', 'synth_proof', 'sealing_daemons'];

/** damocles' plans that sealfleet workers do not run, and why: a thread with one is accepted and does not start. */
const DORMANT_PLANS = {
  unseal: 'sealfleet-worker has no unseal plan, so this thread does not start',
} as const;
type DormantPlan = keyof typeof DORMANT_PLANS;
const isDormantPlan = (name: string): name is DormantPlan => Object.hasOwn(DORMANT_PLANS, name);

const threadPlan = parsedString((name): PlanName | DormantPlan => {
  if (isPlanName(name) || isDormantPlan(name)) return name;
  throw new Error(`unknown plan "${name}": expected one of ${[...PLAN_NAMES, ...Object.keys(DORMANT_PLANS)].join(', ')}`);
});

/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Printable text (obs-text included), tab allowed: no CR, LF or other control character. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Set by the worker itself for each call: a configured value would break the request. */
const CLIENT_HEADERS = ['content-length', 'content-type', 'transfer-encoding', 'host', 'connection'];

/** `rpc_client.headers`. A value is never echoed in an error: it may be a credential. */
const HeadersSchema = z.record(z.string(), z.string()).superRefine((table, ctx) => {
  for (const [name, value] of Object.entries(table)) {
    if (!HEADER_NAME.test(name)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `invalid header name "${name}": expected letters, digits and !#$%&'*+.^_\`|~- only` });
    } else if (CLIENT_HEADERS.includes(name.toLowerCase())) {
      ctx.addIssue({ code: 'custom', path: [name], message: `header "${name}" is set by the worker on every call: remove it` });
    } else if (!HEADER_VALUE.test(value)) {
      ctx.addIssue({ code: 'custom', path: [name], message: `the value of header "${name}" has a control character (CR, LF, NUL …): expected one line of printable text` });
    }
  }
});

function checkStageKeys(table: Record<string, unknown>, ctx: z.RefinementCtx, alsoAccepted: readonly string[] = []): void {
  for (const key of Object.keys(table)) {
    if (!isStage(key) && !alsoAccepted.includes(key)) {
      ctx.addIssue({ code: 'custom', path: [key], message: `unknown stage "${key}": expected one of ${STAGES.join(', ')}` });
    }
  }
}

/** A table keyed by stage name, e.g. `[processors.limitation.concurrent]`. */
const stageTable = <T extends z.ZodType>(value: T) =>
  z
    .record(z.string(), value)
    .superRefine(checkStageKeys)
    // Only reached when checkStageKeys found no other key.
    .transform((table) => table as Partial<Record<Stage, z.output<T>>>)
    .default({});

/**
 * A damocles table keyed by stage (`[processors.limitation.concurrent]` …): `stages` holds ours, `ignored` the
 * damocles stages we do not run, which the loader reports as having no effect.
 */
const damoclesStageTable = <T extends z.ZodType>(value: T) =>
  z
    .record(z.string(), value)
    .superRefine((table, ctx) => checkStageKeys(table, ctx, DAMOCLES_ONLY_STAGES))
    .transform((table) => {
      const stages: Partial<Record<Stage, z.output<T>>> = {};
      const ignored: string[] = [];
      for (const [stage, v] of Object.entries(table)) {
        if (isStage(stage)) stages[stage] = v;
        else ignored.push(stage);
      }
      return { stages, ignored };
    });

/** `sidecar` is shorthand for `external` with sealfleet-proofs as the stage's processor. */
const kind = z.enum(['mock', 'builtin', 'external', 'sidecar']);

/** One `[[processors.<stage>]]` entry, with damocles' keys and defaults (`timeout` is ours). */
export const ExternalSchema = z.strictObject({
  /** Absent: the stage runs in sealfleet-proofs, as damocles runs its own executable. */
  bin: z.string().min(1).optional(),
  /** Absent: `["processor", "<stage>"]`, as damocles. */
  args: z.array(z.string()).optional(),
  envs: z.record(z.string(), z.string()).default({}),
  inherit_envs: z.boolean().default(true),
  /** Absent: no limit of its own, as damocles. */
  concurrent: positiveInt.optional(),
  locks: z.array(z.string().min(1)).default([]),
  auto_restart: z.boolean().default(true),
  timeout: duration.default(0),
  stable_wait: duration.default(5000),
  numa_preferred: nonNegativeInt.optional(),
  cgroup: z
    .strictObject({
      group_name: z.string().min(1).optional(),
      cpuset: parsedString((text) => (parseCpuList(text), text)).optional(),
    })
    .optional(),
});

/**
 * `[[processors.<stage>]]` sections sit beside the fixed keys, so they are collected from the rest of the
 * table: that way an unknown name is reported as an unknown stage, with the list of valid ones.
 */
const ProcessorsSchema = z
  .object({
    default: kind.default('mock'),
    kinds: stageTable(kind),
    limitation: z
      .strictObject({
        concurrent: damoclesStageTable(positiveInt).optional(),
        staggered: damoclesStageTable(duration).optional(),
      })
      .prefault({}),
    /** damocles' older name of `limitation.concurrent`, read only when that is absent. */
    limit: damoclesStageTable(positiveInt).optional(),
    ext_locks: z.record(z.string().min(1), positiveInt).default({}),
    /** Sector size → tree_d file; checked against the file system once the config's directory is known. */
    static_tree_d: z.record(z.string(), z.string().min(1)).default({}),
    mock: z
      .strictObject({
        stage_time: duration.default(50),
        stage_times: stageTable(duration),
        fail: stageTable(z.number().min(0).max(1)),
      })
      .prefault({}),
    sidecar: z
      .strictObject({
        /** sealfleet-proofs; default `$SEALFLEET_PROOFS_BIN`, else where `npm run build:proofs` puts it. */
        bin: z.string().min(1).optional(),
        /** A sidecar task not answered within this long fails (0 = no limit). */
        timeout: duration.default(0),
      })
      .prefault({}),
  })
  .catchall(z.unknown())
  .transform(({ default: fallback, kinds, limitation, limit, ext_locks, static_tree_d, mock, sidecar, ...sections }, ctx) => {
    const external: Partial<Record<Stage, z.output<typeof ExternalSchema>[]>> = {};
    /** `[[processors.<stage>]]` sections of damocles stages we do not run: reported as having no effect. */
    const ignored: string[] = [];
    for (const [key, value] of Object.entries(sections)) {
      if (DAMOCLES_ONLY_STAGES.includes(key)) {
        ignored.push(key);
        continue;
      }
      if (!isStage(key)) {
        const message = `unknown key: expected default, kinds, limitation, limit, ext_locks, static_tree_d, mock, sidecar or a [[processors.<stage>]] section with the stage one of ${STAGES.join(', ')}`;
        ctx.addIssue({ code: 'custom', path: [key], message });
        continue;
      }
      const parsed = z.array(ExternalSchema).safeParse(value);
      if (parsed.success) external[key] = parsed.data;
      else for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] });
    }
    return { default: fallback, kinds, limitation, limit, ext_locks, static_tree_d, mock, sidecar, external, ignored };
  });

const MANAGER_ADDR = 'the manager address, e.g. /ip4/127.0.0.1/tcp/1789';
/** More managers than any cluster runs: a list this long is a mistake, and each one costs a failing call a timeout. */
const MAX_MANAGERS = 16;

/**
 * `rpc_client.addr`: one manager address, or a TOML array of the addresses of managers that share one
 * database. Two entries that name one endpoint (a multiaddr and its URL, say) are refused: failing over to
 * the manager that just failed helps no one.
 */
const ManagerAddrs = z
  .union([z.string(), z.array(z.string())], {
    error: (issue) => (issue.input === undefined ? `missing: expected ${MANAGER_ADDR}` : `expected ${MANAGER_ADDR}, or an array of such addresses`),
  })
  .transform((value, ctx) => {
    const list = typeof value === 'string' ? [value] : value;
    const refuse = (message: string, at?: number): typeof z.NEVER => {
      ctx.addIssue({ code: 'custom', message, path: at === undefined || typeof value === 'string' ? [] : [at] });
      return z.NEVER;
    };
    if (list.length === 0) return refuse(`an empty list: expected at least one manager address, e.g. ["/ip4/10.0.0.2/tcp/1789", "/ip4/10.0.0.3/tcp/1789"]`);
    if (list.length > MAX_MANAGERS) return refuse(`${list.length} manager addresses: expected at most ${MAX_MANAGERS}`);
    const urls: string[] = [];
    const seen: string[] = [];
    for (const [i, addr] of list.entries()) {
      let url: string;
      try {
        url = managerRpcUrl(addr);
      } catch (err) {
        return refuse((err as Error).message, i);
      }
      const normal = new URL(url).href;
      const same = seen.indexOf(normal);
      if (same >= 0) return refuse(`"${addr}" is the manager of entry ${same} ("${list[same]}") again: expected each manager once`, i);
      seen.push(normal);
      urls.push(url);
    }
    return urls as [string, ...string[]];
  });

export const ConfigSchema = z.strictObject({
  worker: z
    .strictObject({
      name: z.string().min(1).optional(),
      rpc_server: z
        .strictObject({
          host: z.string().min(1).default('127.0.0.1'),
          // 0 picks a free port (tests); the daemon reports the one it got.
          port: z.number().int().min(0).max(65535).default(WORKER_CONTROL_PORT),
          token: z.string().min(1).optional(),
          advertise: parsedString(parseAdvertise).optional(),
        })
        .prefault({}),
      ping_interval: duration.default(30_000),
      local_pieces_dir: z.string().min(1).optional(),
      local_pieces_dirs: z.array(z.string().min(1)).optional(),
      scan_persist_stores: z.array(z.string().min(1)).optional(),
      // damocles' serde alias of the key above.
      ScanPersistStores: z.array(z.string().min(1)).optional(),
    })
    .prefault({}),
  sector_manager: z.strictObject(
    {
      rpc_client: z.strictObject(
        { addr: ManagerAddrs, headers: HeadersSchema.default({}) },
        { error: (issue) => (issue.input === undefined ? `missing: expected addr, ${MANAGER_ADDR}` : undefined) },
      ),
      token: z.string().min(1).optional(),
      piece_token: z.string().min(1).optional(),
    },
    { error: (issue) => (issue.input === undefined ? 'missing: expected rpc_client.addr of the manager' : undefined) },
  ),
  sealing: SealingSchema.prefault({}),
  sealing_thread: z
    .array(
      z.strictObject({
        // damocles' wdpost threads have none; checked per plan below.
        location: z.string().min(1).optional(),
        plan: threadPlan.default('sealer'),
        sealing: SealingSchema.prefault({}),
      }),
    )
    .min(1, 'expected at least one [[sealing_thread]]')
    .prefault([]),
  attached: z
    .array(
      z.strictObject({
        name: z.string().min(1).optional(),
        location: required('the directory of the persist store'),
        readonly: z.boolean().default(false),
      }),
    )
    .default([]),
  // damocles' deprecated single store: [[attached]] replaced it there.
  remote_store: noEffect(
    z.strictObject({ name: z.string().min(1).optional(), location: required('the directory of the store'), readonly: z.boolean().optional() }),
  ),
  processors: ProcessorsSchema.prefault({}),
  metrics: z
    .strictObject({
      enable: z.boolean().default(false),
      // damocles listens on 0.0.0.0:9000; loopback unless asked keeps the worker's surface as small as its control API's.
      http_listen: parsedString((text) => (parseListen(text), text.trim())).default('127.0.0.1:9000'),
    })
    .prefault({}),
});

/**
 * Reads and checks a worker config: key names as in damocles. A key damocles accepts but that does nothing
 * here is accepted with a warning (in `warnings`); a key damocles does not know either is an error.
 */
export function loadWorkerConfig(path: string): WorkerConfig {
  const file = resolve(path);
  const raw = readTomlConfig(file, 'worker config', ConfigSchema);
  const warnings: string[] = [];
  const warn = (text: string): void => {
    warnings.push(`config: ${file}: ${text}`);
  };
  for (const key of takeNoEffectKeys(raw)) warn(noEffectText(key));
  const fail = (problem: string): never => {
    throw new Error(`invalid worker config ${file}: ${problem}`);
  };
  const dir = dirname(file);

  const { rpc_server } = raw.worker;
  const { token, piece_token, rpc_client } = raw.sector_manager;
  const authorization = Object.keys(rpc_client.headers).find((name) => name.toLowerCase() === 'authorization');
  if (token !== undefined && authorization !== undefined) {
    fail(`sector_manager.rpc_client.headers.${authorization} is set together with sector_manager.token, which is sent as "Authorization: Bearer <token>": expected only one of the two`);
  }

  const { local_pieces_dir, local_pieces_dirs } = raw.worker;
  if (local_pieces_dir !== undefined && local_pieces_dirs !== undefined) {
    warn(noEffectText('worker.local_pieces_dir', 'worker.local_pieces_dirs is set and wins'));
  }
  const pieceDirs = (local_pieces_dirs ?? (local_pieces_dir === undefined ? [] : [local_pieces_dir])).map((d) => resolve(dir, d));

  const sealing: SealingConfig = { ...SEALING_DEFAULTS, ...raw.sealing };
  const threads: ThreadConfig[] = [];
  raw.sealing_thread.forEach((t, index) => {
    if (isDormantPlan(t.plan)) {
      warn(noEffectText(`sealing_thread.${index}.plan`, `"${t.plan}": ${DORMANT_PLANS[t.plan]}`));
      return;
    }
    // A wdpost thread keeps its job in memory only (as damocles), so it needs no location.
    const location = t.location ?? (t.plan === 'wdpost' ? null : fail(`sealing_thread.${index}.location: missing: expected the directory of the thread's local store`));
    const thread: ThreadConfig = { index, location: location === null ? null : resolve(dir, location), plan: t.plan, sealing: { ...sealing, ...t.sealing } };
    if (thread.plan === 'sealer' && thread.sealing.disable_cc && !thread.sealing.enable_deals) {
      fail(`sealing_thread.${index}: sealing.disable_cc is true but sealing.enable_deals is false, so the thread could never seal a sector: enable deals or drop disable_cc`);
    }
    threads.push(thread);
  });
  threads.forEach((t) => {
    const home = threadHome(t);
    const first = home === null ? undefined : threads.find((o) => threadHome(o) === home);
    if (first && first !== t) fail(`sealing_thread.${t.index}.location ${t.location} is already the location of sealing_thread.${first.index}`);
  });

  const attached = raw.attached.map((a): AttachedStore => {
    const location = resolve(dir, a.location);
    return { name: a.name ?? location, location, read_only: a.readonly };
  });
  attached.forEach((a, i) => {
    if (attached.findIndex((o) => o.name === a.name) !== i) fail(`attached.${i}: the store name "${a.name}" is used twice`);
  });
  const { scan_persist_stores, ScanPersistStores } = raw.worker;
  if (scan_persist_stores && ScanPersistStores) fail('worker.scan_persist_stores and its alias worker.ScanPersistStores are both set: keep one');
  let scanned: ReturnType<typeof scanPersistStores> = [];
  try {
    scanned = scanPersistStores(scan_persist_stores ?? ScanPersistStores ?? [], dir);
  } catch (err) {
    fail((err as Error).message);
  }
  const sources = attached.map((a, i) => `attached.${i} (location ${a.location})`);
  for (const { store, file } of scanned) {
    const clash = attached.findIndex((o) => o.name === store.name);
    if (clash >= 0) fail(`the persist store "${store.name}" of ${file} (worker.scan_persist_stores) has the name of ${sources[clash]}`);
    sources.push(file);
    attached.push(store);
  }

  return {
    path: file,
    worker: {
      name: raw.worker.name ?? null,
      rpc_server: { host: rpc_server.host, port: rpc_server.port, token: rpc_server.token ?? null, advertise: rpc_server.advertise ?? null },
      ping_interval: raw.worker.ping_interval,
      local_pieces_dirs: pieceDirs,
    },
    sector_manager: { urls: rpc_client.addr, token: token ?? null, piece_token: piece_token ?? null, headers: rpc_client.headers },
    sealing,
    threads,
    attached,
    // A worker whose threads all have plans that do not run here still gets working processors.
    processors: processorsConfig(raw.processors, dir, Math.max(1, threads.length), fail, warn),
    metrics: raw.metrics,
    warnings,
  };
}

/**
 * Resolves every stage to mock, builtin or external. Having `[[processors.<stage>]]` entries makes the stage
 * external (a `kinds` entry saying otherwise is a contradiction); `sidecar` becomes an external sealfleet-proofs
 * child. A sidecar default leaves two stages in TypeScript: `transfer`, which the sidecar does not do, and
 * `add_pieces`, because deal pieces come by URL from the manager's piece store and the sidecar reads local files only.
 */
function processorsConfig(
  raw: z.output<typeof ProcessorsSchema>,
  dir: string,
  threads: number,
  fail: (problem: string) => never,
  warn: (text: string) => void,
): ProcessorsConfig {
  for (const stage of raw.ignored) warn(noEffectText(`processors.${stage}`));
  const kinds: Partial<Record<Stage, ProcessorKind>> = {};
  const external: Partial<Record<Stage, ExternalProcessorConfig[]>> = {};
  // A relative bin with a directory part is relative to the config, like locations; a bare name is looked up on PATH.
  const relative = (bin: string): string => (bin.includes('/') && !isAbsolute(bin) ? resolve(dir, bin) : bin);
  let sidecar: Sidecar | undefined;
  const theSidecar = (what: string): Sidecar => {
    try {
      return (sidecar ??= requireSidecar(raw.sidecar.bin === undefined ? undefined : relative(raw.sidecar.bin), what));
    } catch (err) {
      return fail((err as Error).message);
    }
  };
  const entry = (stage: Stage, index: number, e: z.output<typeof ExternalSchema>): ExternalProcessorConfig => {
    const key = `processors.${stage}.${index}`;
    if (e.cgroup?.group_name !== undefined) warn(noEffectText(`${key}.cgroup.group_name`));
    for (const lock of e.locks) {
      if (!(lock in raw.ext_locks)) warn(`${key}.locks: "${lock}" is not in [processors.ext_locks], so it limits nothing (as in damocles)`);
    }
    let bin: string;
    let envs = e.envs;
    if (e.bin !== undefined) {
      bin = relative(e.bin);
    } else {
      if (!SIDECAR_STAGES.includes(stage)) fail(`${key} has no bin, so it would run in sealfleet-proofs, which has no ${stage} stage: give bin`);
      const found = theSidecar(`${key} without bin`);
      bin = found.bin;
      envs = { ...sidecarEnv(found), ...e.envs };
    }
    return {
      bin,
      args: e.args ?? ['processor', stage],
      envs,
      inherit_envs: e.inherit_envs,
      concurrent: e.concurrent ?? null,
      locks: e.locks,
      auto_restart: e.auto_restart,
      timeout: e.timeout,
      stable_wait: e.stable_wait,
      cpuset: e.cgroup?.cpuset ?? null,
      numa_preferred: e.numa_preferred ?? null,
    };
  };
  for (const stage of STAGES) {
    const declared = raw.kinds[stage];
    const entries = raw.external[stage];
    if (entries) {
      if (declared !== undefined && declared !== 'external') {
        fail(`processors.kinds.${stage} is "${declared}", but [[processors.${stage}]] configures an external processor`);
      }
      // damocles runs its own executable for an entry without bin. Ours is sealfleet-proofs, except for the one
      // stage it lacks (transfer), whose own implementation is the in-process builtin: damocles' sample config,
      // with its bin-less [[processors.transfer]], then loads and behaves the same.
      if (!SIDECAR_STAGES.includes(stage) && entries.every((e) => e.bin === undefined)) {
        kinds[stage] = 'builtin';
        continue;
      }
      kinds[stage] = 'external';
      external[stage] = entries.map((e, i) => entry(stage, i, e));
      continue;
    }
    if (declared !== undefined && declared !== 'sidecar') {
      kinds[stage] = declared;
      continue;
    }
    if (declared === undefined && raw.default !== 'sidecar') continue;
    if (!SIDECAR_STAGES.includes(stage) || (stage === 'add_pieces' && declared === undefined)) {
      if (declared !== undefined) fail(`processors.kinds.${stage} is "sidecar", but sealfleet-proofs has no ${stage} stage: use "builtin"`);
      kinds[stage] = 'builtin';
      continue;
    }
    const found = theSidecar(`processors ${declared ? `kinds.${stage}` : 'default'} = "sidecar"`);
    kinds[stage] = 'external';
    // As many tasks per child as the worker has threads: the daemon's own stage limits are what bound the work.
    external[stage] = [sidecarProcessor(found, stage, { concurrent: threads, timeout: raw.sidecar.timeout })];
  }
  // With a sidecar default every stage has its kind set above; the fallback is never consulted.
  const fallback: ProcessorKind = raw.default === 'sidecar' ? 'builtin' : raw.default;
  return {
    default: fallback,
    kinds,
    limitation: { concurrent: concurrentLimits(raw, warn), staggered: staggeredLimits(raw.limitation.staggered, warn) },
    ext_locks: raw.ext_locks,
    static_tree_d: staticTreeD(raw.static_tree_d, dir, fail),
    mock: raw.mock,
    external,
  };
}

/** `limitation.concurrent`, else the older `limit`, as damocles. */
type StageTable = z.output<ReturnType<typeof damoclesStageTable<typeof positiveInt>>>;

/** A damocles stage table's stages, each damocles-only stage in it reported as having no effect. */
function ourStages(key: string, table: StageTable, warn: (text: string) => void): Partial<Record<Stage, number>> {
  for (const stage of table.ignored) warn(noEffectText(`${key}.${stage}`));
  return table.stages;
}

function concurrentLimits(raw: z.output<typeof ProcessorsSchema>, warn: (text: string) => void): Partial<Record<Stage, number>> {
  const { concurrent } = raw.limitation;
  if (concurrent && raw.limit) warn('processors.limit is ignored: processors.limitation.concurrent is set');
  if (concurrent) return ourStages('processors.limitation.concurrent', concurrent, warn);
  return raw.limit ? ourStages('processors.limit', raw.limit, warn) : {};
}

/** Damocles ignores a stagger under a second; so do we, but say so. */
function staggeredLimits(staggered: StageTable | undefined, warn: (text: string) => void): Partial<Record<Stage, number>> {
  const kept: Partial<Record<Stage, number>> = {};
  const stages = staggered ? ourStages('processors.limitation.staggered', staggered, warn) : {};
  for (const [stage, ms] of Object.entries(stages) as [Stage, number][]) {
    if (ms >= 1000) kept[stage] = ms;
    else warn(`processors.limitation.staggered.${stage} = ${ms}ms is ignored: a stagger under 1s has no effect (as in damocles)`);
  }
  return kept;
}

/**
 * `[processors.static_tree_d]`: each key a sector size, each file there, with the size of a tree_d of that sector
 * size (2 × size − 32 bytes), so a wrong file is refused at start rather than trusted by PC1.
 */
function staticTreeD(table: Record<string, string>, dir: string, fail: (problem: string) => never): Partial<Record<number, string>> {
  const trees: Partial<Record<number, string>> = {};
  for (const [key, value] of Object.entries(table)) {
    const where = `processors.static_tree_d."${key}"`;
    let size: number;
    try {
      size = parseSectorSize(key);
    } catch (err) {
      return fail(`${where}: ${(err as Error).message}`);
    }
    const path = resolve(dir, value);
    let st: Stats;
    try {
      st = statSync(path);
    } catch (err) {
      return fail(`${where}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (!st.isFile()) fail(`${where}: ${path} is not a file`);
    if (st.size !== 2 * size - 32) fail(`${where}: ${path} has ${st.size} bytes, but the tree_d of a ${formatSize(size)} sector has ${2 * size - 32}`);
    trees[size] = path;
  }
  return trees;
}
