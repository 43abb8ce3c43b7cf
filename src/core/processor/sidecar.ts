import { execFile } from 'node:child_process';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { isExecutable } from '../executable.js';
import type { Logger } from '../log.js';
import { STAGES, type OutputOf, type ProcessorStage, type Stage, type TaskOf } from '../wire/processor.js';
import { EXTERNAL_DEFAULTS, ExternalStage, type ExternalProcessorConfig } from './external.js';

/**
 * The sealfleet-proofs sidecar (the Rust crate in `proofs/`): where its binary and caches are, whether its
 * parameter cache can prove a sector size, and its processors as external processor configs.
 */

/** Caches kept outside any clone or home: cargo's target dir, Groth16 parameters, the SDR parent cache. */
function cacheDir(): string {
  const dir = process.env.SEALFLEET_CACHE;
  return dir ? resolve(dir) : join(homedir(), '.cache', 'sealfleet');
}

/** `bin`, else `$SEALFLEET_PROOFS_BIN`, else where `npm run build:proofs` puts the binary. */
const sidecarPath = (bin?: string): string =>
  resolve(bin ?? process.env.SEALFLEET_PROOFS_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(cacheDir(), 'cargo-target'), 'release', 'sealfleet-proofs'));

export interface Sidecar {
  bin: string;
  /** `FIL_PROOFS_PARAMETER_CACHE`: Groth16 parameters and verifying keys. */
  paramCache: string;
  /** `FIL_PROOFS_PARENT_CACHE`: SDR parent graphs, written on first use. */
  parentCache: string;
}

/** Every stage but `transfer`, which moves files between stores and stays in TypeScript. */
export const SIDECAR_STAGES: readonly Stage[] = STAGES.filter((s) => s !== 'transfer');

/**
 * The sidecar at `bin`, else at `$SEALFLEET_PROOFS_BIN`, else where `npm run build:proofs` puts it; undefined
 * when there is no executable file there. The caches follow the proofs library's own variables when they are set.
 */
export function findSidecar(bin?: string): Sidecar | undefined {
  const path = sidecarPath(bin);
  if (!isExecutable(path)) return undefined;
  return {
    bin: path,
    paramCache: resolve(process.env.FIL_PROOFS_PARAMETER_CACHE ?? join(cacheDir(), 'params')),
    parentCache: resolve(process.env.FIL_PROOFS_PARENT_CACHE ?? join(cacheDir(), 'parents')),
  };
}

/** Like `findSidecar`, but an explicit `bin` that is not there is an error naming it. */
export function requireSidecar(bin: string | undefined, what: string): Sidecar {
  const found = findSidecar(bin);
  if (found) return found;
  throw new Error(`${what} needs the sealfleet-proofs sidecar, but ${sidecarPath(bin)} is not an executable file: build it with "npm run build:proofs", or give its path`);
}

export const sidecarEnv = (s: Sidecar): Record<string, string> => ({
  FIL_PROOFS_PARAMETER_CACHE: s.paramCache,
  FIL_PROOFS_PARENT_CACHE: s.parentCache,
});

/** `sealfleet-proofs processor <stage>` as an external processor of the stage. */
export function sidecarProcessor(s: Sidecar, stage: ProcessorStage, opts: { concurrent?: number; timeout?: number } = {}): ExternalProcessorConfig {
  return {
    ...EXTERNAL_DEFAULTS,
    bin: s.bin,
    args: ['processor', stage],
    envs: sidecarEnv(s),
    concurrent: opts.concurrent ?? 1,
    timeout: opts.timeout ?? 0,
    stable_wait: 30_000,
  };
}

export interface ParamsCheck {
  ready: boolean;
  /** Parameter or verifying-key files not in the cache. */
  missing: string[];
}

/**
 * Whether the parameter cache has what proving `sectorSize` sectors needs (seal, snap and WindowPoSt), asked of the
 * sidecar itself (`sealfleet-proofs params`), which names the files without loading them.
 */
export function checkParams(s: Sidecar, sectorSize: number): Promise<ParamsCheck> {
  return new Promise((resolvePromise, reject) => {
    execFile(s.bin, ['params', '--sector-size', String(sectorSize)], { env: { ...process.env, ...sidecarEnv(s), RUST_LOG: 'error' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (code !== 0 && code !== 3) {
        reject(new Error(`${s.bin} params --sector-size ${sectorSize} failed (${err?.message ?? code}): ${stderr.trim()}`));
        return;
      }
      const missing: string[] = [];
      for (const line of stdout.split('\n').filter((l) => l.trim())) {
        const entry = JSON.parse(line) as { params: string; vk: string; present: boolean };
        if (!entry.present) missing.push(entry.params, entry.vk);
      }
      resolvePromise({ ready: code === 0, missing });
    });
  });
}

/**
 * Sidecar stages for callers that are not workers (the devnet's verifier, the manager's piece commitments and
 * WindowPoSt, benchmarks): each stage's child is started on first use (or by `start`) and kept for the next call, so its
 * parameters load once.
 */
export class SidecarClient {
  private readonly stages = new Map<ProcessorStage, Promise<ExternalStage<ProcessorStage>>>();

  constructor(
    readonly sidecar: Sidecar,
    private readonly log: Logger,
  ) {}

  /** Starts the stage's child unless it runs already; resolves once it has printed its ready line. */
  async start<S extends ProcessorStage>(stage: S): Promise<ExternalStage<S>> {
    let started = this.stages.get(stage);
    if (!started) {
      started = ExternalStage.start<ProcessorStage>(stage, [sidecarProcessor(this.sidecar, stage)], this.log);
      this.stages.set(stage, started);
      // A child that could not start is tried again on the next call.
      started.catch(() => this.stages.delete(stage));
    }
    return (await started) as unknown as ExternalStage<S>;
  }

  async run<S extends ProcessorStage>(stage: S, task: TaskOf<S>): Promise<OutputOf<S>> {
    return (await this.start(stage)).run(task);
  }

  async close(): Promise<void> {
    const stages = [...this.stages.values()];
    this.stages.clear();
    await Promise.all(stages.map((s) => s.then((stage) => stage.close(), () => undefined)));
  }
}
