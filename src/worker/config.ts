import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { getPlan, type PlanName } from '../core/plans/index.js';
import { parseSectorSize } from '../core/proofTypes.js';
import { readTomlConfig } from '../core/tomlConfig.js';
import { parseDuration, parseSize } from '../core/units.js';
import { parsedString } from '../core/validate.js';
import { isStage, STAGES, type Stage } from '../core/wire/processor.js';
import { WORKER_CONTROL_PORT } from '../core/wire/workerControl.js';
import type { ExternalProcessorConfig } from '../core/processor/external.js';
import { requireSidecar, SIDECAR_STAGES, sidecarProcessor, type Sidecar } from '../core/processor/sidecar.js';
import type { ProcessorKind, ProcessorsConfig } from './processors/types.js';
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
}

export interface ThreadConfig {
  index: number;
  /** Absolute. */
  location: string;
  plan: PlanName;
  /** `[sealing]` merged with this thread's `sealing.*` overrides. */
  sealing: SealingConfig;
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
  };
  sector_manager: {
    /** `<scheme>://<host>:<port>/rpc/v0` */
    url: string;
    token: string;
    /** Sent to the manager's piece store (damocles' `piece_token`); defaults to `token`. */
    piece_token: string;
  };
  sealing: SealingConfig;
  threads: ThreadConfig[];
  /** `[[attached]]` and the stores found by `worker.scan_persist_stores`: the manager names a store, the worker uses its own location. */
  attached: AttachedStore[];
  processors: ProcessorsConfig;
}

const SEALING_DEFAULTS: SealingConfig = {
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
const SealingSchema = z
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
  })
  .partial();

function checkStageKeys(table: Record<string, unknown>, ctx: z.RefinementCtx): void {
  for (const key of Object.keys(table)) {
    if (!isStage(key)) ctx.addIssue({ code: 'custom', path: [key], message: `unknown stage "${key}": expected one of ${STAGES.join(', ')}` });
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

/** `sidecar` is shorthand for `external` with sealfleet-proofs as the stage's processor. */
const kind = z.enum(['mock', 'builtin', 'external', 'sidecar']);

const ExternalSchema = z.strictObject({
  bin: required('the processor executable (a path, or a name looked up on PATH)'),
  args: z.array(z.string()).default([]),
  envs: z.record(z.string(), z.string()).default({}),
  concurrent: positiveInt.default(1),
  timeout: duration.default(0),
  stable_wait: duration.default(5000),
});

/**
 * `[[processors.<stage>]]` sections sit beside the fixed keys, so they are collected from the rest of the
 * table: that way an unknown name is reported as an unknown stage, with the list of valid ones.
 */
const ProcessorsSchema = z
  .object({
    default: kind.default('mock'),
    kinds: stageTable(kind),
    limitation: z.strictObject({ concurrent: stageTable(positiveInt) }).prefault({}),
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
  .transform(({ default: fallback, kinds, limitation, mock, sidecar, ...sections }, ctx) => {
    const external: Partial<Record<Stage, z.output<typeof ExternalSchema>[]>> = {};
    for (const [key, value] of Object.entries(sections)) {
      if (!isStage(key)) {
        const message = `unknown key: expected default, kinds, limitation, mock, sidecar or a [[processors.<stage>]] section with the stage one of ${STAGES.join(', ')}`;
        ctx.addIssue({ code: 'custom', path: [key], message });
        continue;
      }
      const parsed = z.array(ExternalSchema).safeParse(value);
      if (parsed.success) external[key] = parsed.data;
      else for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: [key, ...issue.path] });
    }
    return { default: fallback, kinds, limitation, mock, sidecar, external };
  });

const MANAGER_ADDR = 'the manager address, e.g. /ip4/127.0.0.1/tcp/1789';

const ConfigSchema = z.strictObject({
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
      scan_persist_stores: z.array(z.string().min(1)).optional(),
      // damocles' serde alias of the key above.
      ScanPersistStores: z.array(z.string().min(1)).optional(),
    })
    .prefault({}),
  sector_manager: z.strictObject(
    {
      rpc_client: z.strictObject(
        { addr: required(MANAGER_ADDR).pipe(parsedString(managerRpcUrl)) },
        { error: (issue) => (issue.input === undefined ? `missing: expected addr, ${MANAGER_ADDR}` : undefined) },
      ),
      token: required('a manager API token with write permission'),
      piece_token: z.string().min(1).optional(),
    },
    { error: (issue) => (issue.input === undefined ? 'missing: expected rpc_client.addr and token of the manager' : undefined) },
  ),
  sealing: SealingSchema.prefault({}),
  sealing_thread: z
    .array(
      z.strictObject({
        location: required('the directory of the thread\'s local store'),
        plan: parsedString((name) => getPlan(name).name).default('sealer'),
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
  processors: ProcessorsSchema.prefault({}),
});

export const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/** Reads and checks a worker config: key names as in damocles, but an unknown key is an error. */
export function loadWorkerConfig(path: string): WorkerConfig {
  const file = resolve(path);
  const raw = readTomlConfig(file, 'worker config', ConfigSchema);
  const fail = (problem: string): never => {
    throw new Error(`invalid worker config ${file}: ${problem}`);
  };
  const dir = dirname(file);

  const { rpc_server } = raw.worker;
  const sealing: SealingConfig = { ...SEALING_DEFAULTS, ...raw.sealing };
  const threads = raw.sealing_thread.map((t, index): ThreadConfig => ({
    index,
    location: resolve(dir, t.location),
    plan: t.plan,
    sealing: { ...sealing, ...t.sealing },
  }));
  threads.forEach((t) => {
    const first = threads.find((o) => o.location === t.location);
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
    },
    sector_manager: { url: raw.sector_manager.rpc_client.addr, token: raw.sector_manager.token, piece_token: raw.sector_manager.piece_token ?? raw.sector_manager.token },
    sealing,
    threads,
    attached,
    processors: processorsConfig(raw.processors, dir, threads.length, fail),
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
): ProcessorsConfig {
  const kinds: Partial<Record<Stage, ProcessorKind>> = {};
  const external: Partial<Record<Stage, ExternalProcessorConfig[]>> = {};
  const relative = (bin: string): string => (bin.includes('/') && !isAbsolute(bin) ? resolve(dir, bin) : bin);
  let sidecar: Sidecar | undefined;
  for (const stage of STAGES) {
    const declared = raw.kinds[stage];
    const entries = raw.external[stage];
    if (entries) {
      if (declared !== undefined && declared !== 'external') {
        fail(`processors.kinds.${stage} is "${declared}", but [[processors.${stage}]] configures an external processor`);
      }
      kinds[stage] = 'external';
      // A relative bin with a directory part is relative to the config, like locations; a bare name is looked up on PATH.
      external[stage] = entries.map((e) => ({ ...e, bin: relative(e.bin) }));
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
    try {
      sidecar ??= requireSidecar(raw.sidecar.bin === undefined ? undefined : relative(raw.sidecar.bin), `processors ${declared ? `kinds.${stage}` : 'default'} = "sidecar"`);
    } catch (err) {
      fail((err as Error).message);
    }
    kinds[stage] = 'external';
    // As many tasks per child as the worker has threads: the daemon's own stage limits are what bound the work.
    external[stage] = [sidecarProcessor(sidecar, stage, { concurrent: threads, timeout: raw.sidecar.timeout })];
  }
  // With a sidecar default every stage has its kind set above; the fallback is never consulted.
  const fallback: ProcessorKind = raw.default === 'sidecar' ? 'builtin' : raw.default;
  return { default: fallback, kinds, limitation: raw.limitation, mock: raw.mock, external };
}
