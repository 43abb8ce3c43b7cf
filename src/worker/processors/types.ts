import type { OutputOf, Stage, TaskOf } from '../../core/wire/processor.js';
import type { ExternalProcessorConfig } from '../../core/processor/external.js';

export type ProcessorKind = 'mock' | 'builtin' | 'external';

export interface ProcessorsConfig {
  /** Kind for every stage without its own `kinds` entry or `[[processors.<stage>]]` section. */
  default: ProcessorKind;
  /** Per-stage kind (`[processors.kinds] add_pieces = "builtin"`). */
  kinds: Partial<Record<Stage, ProcessorKind>>;
  limitation: {
    /** At most this many tasks of a stage at once in the daemon. */
    concurrent: Partial<Record<Stage, number>>;
    /** ms: starts of a stage spread at least this far apart while its tasks run longer (see StaggeredGate). */
    staggered: Partial<Record<Stage, number>>;
  };
  /** `[processors.ext_locks]`: named locks external entries list in `locks`, and how many may hold each at once. */
  ext_locks: Record<string, number>;
  /** `[processors.static_tree_d]`: sector size in bytes → absolute path of the tree_d every CC sector of that size shares. */
  static_tree_d: Partial<Record<number, string>>;
  mock: {
    /** Duration of every mock stage, ms (default 50). */
    stage_time: number;
    stage_times: Partial<Record<Stage, number>>;
    /** Probability (0–1) that a mock task of the stage fails. */
    fail: Partial<Record<Stage, number>>;
  };
  external: Partial<Record<Stage, ExternalProcessorConfig[]>>;
}

/** Runs stage tasks through whichever processor the config names for the stage, within the stage limits. */
export interface Processors {
  run<S extends Stage>(stage: S, task: TaskOf<S>): Promise<OutputOf<S>>;
  /** What runs the stage: `mock`, `builtin` or `external(<bin>)` — shown in logs and `worker list`. */
  describe(stage: Stage): string;
  /** Tasks of each stage being run now (past the stage limits). */
  inFlight(): Partial<Record<Stage, number>>;
  /** The prebuilt tree_d for CC sectors of this size, if the config names one. */
  staticTreeD(sectorSize: number): string | null;
  close(): Promise<void>;
}
