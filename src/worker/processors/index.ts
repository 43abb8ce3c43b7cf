import { SealingError, temporary, type FailureLevel } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { STAGES, type OutputOf, type Stage, type TaskOf } from '../../core/wire/processor.js';
import { builtinHandlers } from './builtin.js';
import type { StageHandler, StageHandlers } from './common.js';
import { ExternalStage } from '../../core/processor/external.js';
import { Semaphore } from '../../core/semaphore.js';
import { StageLimits } from './limiter.js';
import { createMockHandlers } from './mock.js';
import { NO_PIECE_ACCESS, type PieceAccess } from './pieces.js';
import type { ProcessorKind, Processors, ProcessorsConfig } from './types.js';

type ExternalStages = { [S in Stage]?: ExternalStage<S> };

/** The kind each stage runs with: its `[[processors.<stage>]]` entries, else `kinds`, else `default`. */
function resolveKinds(config: ProcessorsConfig, builtin: Partial<StageHandlers>): Record<Stage, ProcessorKind> {
  const kinds = {} as Record<Stage, ProcessorKind>;
  for (const stage of STAGES) {
    kinds[stage] = config.external[stage]?.length ? 'external' : (config.kinds[stage] ?? config.default);
    if (kinds[stage] === 'builtin' && !(stage in builtin)) {
      throw new Error(
        `processors: stage ${stage} is set to "builtin", but builtin only covers ${Object.keys(builtin).join(', ')}; ` +
          `use "mock" or an external processor ([[processors.${stage}]]) for ${stage}`,
      );
    }
    if (kinds[stage] === 'external' && !config.external[stage]?.length) {
      throw new Error(`processors: stage ${stage} is set to "external", but there is no [[processors.${stage}]] section naming its bin`);
    }
  }
  return kinds;
}

/**
 * The processors of a worker, as its config names them. External children are spawned here and must
 * complete their handshake before this resolves, so a broken processor stops the daemon at startup.
 *
 * Every failure surfaces as a `SealingError`: a processor's own error (a failed task, an invalid output, a mock
 * injected failure) is Permanent — retrying the same input gives the same answer, an operator must look — while a
 * child that died, timed out or is restarting is Temporary.
 */
export async function createProcessors(config: ProcessorsConfig, log: Logger, pieceAccess: PieceAccess = NO_PIECE_ACCESS): Promise<Processors> {
  const builtin = builtinHandlers(pieceAccess);
  const kinds = resolveKinds(config, builtin);
  const mock = createMockHandlers(config.mock, pieceAccess);
  const externals: ExternalStages = {};
  const started: ExternalStage<Stage>[] = [];
  const locks = new Map(Object.entries(config.ext_locks).map(([name, limit]) => [name, new Semaphore(limit)]));
  const startExternal = async <S extends Stage>(stage: S): Promise<void> => {
    const entries = config.external[stage];
    if (kinds[stage] !== 'external' || !entries) return;
    const external = await ExternalStage.start(stage, entries, log, locks);
    started.push(external);
    (externals as Record<S, ExternalStage<S>>)[stage] = external;
  };
  const starts = await Promise.allSettled(STAGES.map(startExternal));
  const failure = starts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(started.map((s) => s.close()));
    throw failure.reason;
  }
  const limits = new StageLimits(config.limitation);
  const inFlight: Partial<Record<Stage, number>> = {};

  const describe = (stage: Stage): string => externals[stage]?.describe() ?? kinds[stage];

  const handler = <S extends Stage>(stage: S): StageHandler<S> | undefined => {
    const external = externals[stage];
    if (external) return (task) => external.run(task);
    return kinds[stage] === 'builtin' ? builtin[stage] : mock[stage];
  };

  let closing: Promise<void> | undefined;
  log.info({ processors: Object.fromEntries(STAGES.map((s) => [s, describe(s)])) }, 'processors ready');

  return {
    describe,
    inFlight: () => ({ ...inFlight }),
    staticTreeD: (sectorSize) => config.static_tree_d[sectorSize] ?? null,
    async run<S extends Stage>(stage: S, task: TaskOf<S>): Promise<OutputOf<S>> {
      if (closing) throw temporary(`processors are closed: cannot run ${stage}`);
      const release = await limits.acquire(stage);
      inFlight[stage] = (inFlight[stage] ?? 0) + 1;
      try {
        const run = handler(stage);
        // resolveKinds has refused every stage without a processor.
        if (!run) throw new Error(`no ${kinds[stage]} processor for ${stage}`);
        return await run(task);
      } catch (err) {
        const level: FailureLevel = err instanceof SealingError ? err.level : 'Permanent';
        throw new SealingError(level, `${stage} (${describe(stage)}): ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        inFlight[stage] = (inFlight[stage] ?? 1) - 1;
        release();
      }
    },
    close() {
      closing ??= Promise.all(started.map((s) => s.close())).then(() => undefined);
      return closing;
    },
  };
}
