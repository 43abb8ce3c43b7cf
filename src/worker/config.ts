import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { isPlanName, PLAN_NAMES, type PlanName } from '../core/plans/index.js';
import { parseSectorSize } from '../core/proofTypes.js';
import { readTomlConfig } from '../core/tomlConfig.js';
import { parseDuration, parseSize } from '../core/units.js';
import { parsedString } from '../core/validate.js';
import { isStage, STAGES, type Stage } from '../core/wire/processor.js';
import { WORKER_CONTROL_PORT } from '../core/wire/workerControl.js';
import type { ExternalProcessorConfig } from '../core/processor/external.js';
import { requireSidecar, SIDECAR_STAGES, sidecarProcessor, type Sidecar } from '../core/processor/sidecar.js';
import type { ProcessorKind, ProcessorsConfig } from './processors/types.js';
import { noEffect, noEffectWarning, takeNoEffectKeys } from './configCompat.js';

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
    name: string;
    rpc_server: { host: string; port: number; token: string | null };
    /** ms */
    ping_interval: number;
    /** Absolute; searched for deal pieces (`<cid>`, `<cid>.car`) before the manager's piece store. */
    local_pieces_dirs: string[];
  };
  sector_manager: {
    /** `<scheme>://<host>:<port>/rpc/v0` */
    url: string;
    /** null: calls carry no Authorization header (the manager must trust the worker's network). */
    token: string | null;
    /** damocles' `piece_token` as configured: for the piece store, and the only token a piece store's redirect gets. */
    piece_token: string | null;
    /** `rpc_client.headers`: sent with every call to the manager and to its piece store. */
    headers: Record<string, string>;
  };
  sealing: SealingConfig;
  threads: ThreadConfig[];
  attached: { name: string; location: string; read_only: boolean }[];
  processors: ProcessorsConfig;
  /** One line per key that is accepted for damocles compatibility but does nothing here; the daemon logs them. */
  warnings: string[];
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
    disable_cc: z.boolean(),
    request_task_max_retries: nonNegativeInt,
    verify_after_pc2: z.boolean(),
    ignore_proof_check: z.boolean(),
  })
  .partial();

/** damocles' plans that sealfleet workers do not run, and why: a thread with one is accepted and does not start. */
const DORMANT_PLANS = {
  unseal: 'sealfleet-worker has no unseal plan, so this thread does not start',
  wdpost: 'sealfleet-worker has no wdpost plan (the manager proves WindowPoSt), so this thread does not start',
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
        })
        .prefault({}),
      ping_interval: duration.default(30_000),
      local_pieces_dir: z.string().min(1).optional(),
      local_pieces_dirs: z.array(z.string().min(1)).optional(),
    })
    .prefault({}),
  sector_manager: z.strictObject(
    {
      rpc_client: z.strictObject(
        { addr: required(MANAGER_ADDR).pipe(parsedString(managerRpcUrl)), headers: HeadersSchema.default({}) },
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
});

const isLoopback = (host: string): boolean => host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * Reads and checks a worker config: key names as in damocles. A key damocles accepts but that does nothing
 * here is accepted with a warning (in `warnings`); a key damocles does not know either is an error.
 */
export function loadWorkerConfig(path: string): WorkerConfig {
  const file = resolve(path);
  const raw = readTomlConfig(file, 'worker config', ConfigSchema);
  const warnings = takeNoEffectKeys(raw).map((key) => noEffectWarning(file, key));
  const fail = (problem: string): never => {
    throw new Error(`invalid worker config ${file}: ${problem}`);
  };
  const dir = dirname(file);

  const { rpc_server } = raw.worker;
  if (!isLoopback(rpc_server.host) && rpc_server.token === undefined) {
    fail(`worker.rpc_server.host "${rpc_server.host}" lets other machines reach the control API, so worker.rpc_server.token is required`);
  }

  const { token, piece_token, rpc_client } = raw.sector_manager;
  const authorization = Object.keys(rpc_client.headers).find((name) => name.toLowerCase() === 'authorization');
  if (token !== undefined && authorization !== undefined) {
    fail(`sector_manager.rpc_client.headers.${authorization} is set together with sector_manager.token, which is sent as "Authorization: Bearer <token>": expected only one of the two`);
  }

  const { local_pieces_dir, local_pieces_dirs } = raw.worker;
  if (local_pieces_dir !== undefined && local_pieces_dirs !== undefined) {
    warnings.push(noEffectWarning(file, 'worker.local_pieces_dir', 'worker.local_pieces_dirs is set and wins'));
  }
  const pieceDirs = (local_pieces_dirs ?? (local_pieces_dir === undefined ? [] : [local_pieces_dir])).map((d) => resolve(dir, d));

  const sealing: SealingConfig = { ...SEALING_DEFAULTS, ...raw.sealing };
  const threads: ThreadConfig[] = [];
  raw.sealing_thread.forEach((t, index) => {
    if (isDormantPlan(t.plan)) {
      warnings.push(noEffectWarning(file, `sealing_thread.${index}.plan`, `"${t.plan}": ${DORMANT_PLANS[t.plan]}`));
      return;
    }
    const location = t.location ?? fail(`sealing_thread.${index}.location: missing: expected the directory of the thread's local store`);
    const thread: ThreadConfig = { index, location: resolve(dir, location), plan: t.plan, sealing: { ...sealing, ...t.sealing } };
    if (thread.plan === 'sealer' && thread.sealing.disable_cc && !thread.sealing.enable_deals) {
      fail(`sealing_thread.${index}: sealing.disable_cc is true but sealing.enable_deals is false, so the thread could never seal a sector: enable deals or drop disable_cc`);
    }
    threads.push(thread);
  });
  threads.forEach((t) => {
    const first = threads.find((o) => o.location === t.location);
    if (first && first !== t) fail(`sealing_thread.${t.index}.location ${t.location} is already the location of sealing_thread.${first.index}`);
  });

  const attached = raw.attached.map((a) => {
    const location = resolve(dir, a.location);
    return { name: a.name ?? location, location, read_only: a.readonly };
  });
  attached.forEach((a, i) => {
    if (attached.findIndex((o) => o.name === a.name) !== i) fail(`attached.${i}: the store name "${a.name}" is used twice`);
  });

  return {
    path: file,
    worker: {
      name: raw.worker.name ?? hostname(),
      rpc_server: { host: rpc_server.host, port: rpc_server.port, token: rpc_server.token ?? null },
      ping_interval: raw.worker.ping_interval,
      local_pieces_dirs: pieceDirs,
    },
    sector_manager: { url: rpc_client.addr, token: token ?? null, piece_token: piece_token ?? null, headers: rpc_client.headers },
    sealing,
    threads,
    attached,
    // A worker whose threads all have plans that do not run here still gets working processors.
    processors: processorsConfig(raw.processors, dir, Math.max(1, threads.length), fail),
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
