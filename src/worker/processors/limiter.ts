import { Semaphore, type Release } from '../../core/semaphore.js';
import type { Stage } from '../../core/wire/processor.js';

/**
 * `[processors.limitation.staggered]`: spreads the starts of a stage. One slot: a task takes it when it starts
 * and gives it back `interval` later, or when it finishes if that is sooner. So while tasks run longer than the
 * interval, no two start closer together than the interval.
 */
export class StaggeredGate {
  private readonly slot = new Semaphore(1);

  constructor(readonly interval: number) {}

  async acquire(): Promise<Release> {
    const release = await this.slot.acquire();
    const timer = setTimeout(release, this.interval);
    // A pending interval must not keep a closing daemon alive.
    timer.unref();
    return () => {
      clearTimeout(timer);
      release();
    };
  }
}

/**
 * `[processors.limitation]`: per stage, an optional cap on tasks at once (`concurrent`) and an optional spread of
 * their starts (`staggered`); a stage with neither never waits. The cap is taken first, so a task waiting for
 * its turn to start does not hold the stagger slot.
 */
export class StageLimits {
  private readonly semaphores = new Map<Stage, Semaphore>();
  private readonly gates = new Map<Stage, StaggeredGate>();

  constructor(limitation: { concurrent: Partial<Record<Stage, number>>; staggered: Partial<Record<Stage, number>> }) {
    for (const [stage, limit] of Object.entries(limitation.concurrent) as [Stage, number | undefined][]) {
      if (limit !== undefined) this.semaphores.set(stage, new Semaphore(limit));
    }
    for (const [stage, interval] of Object.entries(limitation.staggered) as [Stage, number | undefined][]) {
      if (interval !== undefined) this.gates.set(stage, new StaggeredGate(interval));
    }
  }

  async acquire(stage: Stage): Promise<Release> {
    const releaseSlot = (await this.semaphores.get(stage)?.acquire()) ?? (() => undefined);
    const releaseGate = (await this.gates.get(stage)?.acquire()) ?? (() => undefined);
    return () => {
      releaseGate();
      releaseSlot();
    };
  }
}
