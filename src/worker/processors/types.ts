import type { OutputOf, Stage, TaskOf } from '../../core/wire/processor.js';
import type { ExternalProcessorConfig } from '../../core/processor/external.js';

export type ProcessorKind = 'mock' | 'builtin' | 'external';

export interface ProcessorsConfig {
  /** Kind for every stage without its own `kinds` entry or `[[processors.<stage>]]` section. */
  default: ProcessorKind;
  /** Per-stage kind (`[processors.kinds] add_pieces = "builtin"`). */
  kinds: Partial<Record<Stage, ProcessorKind>>;
  /** `[processors.limitation.concurrent]`: at most this many tasks of a stage at once in the daemon. */
  limitation: { concurrent: Partial<Record<Stage, number>> };
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
  close(): Promise<void>;
}
