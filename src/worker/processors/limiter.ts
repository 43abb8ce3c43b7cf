import type { Stage } from '../../core/wire/processor.js';

/** Gives a held token back; calling it again does nothing. */
export type Release = () => void;

/** A counting semaphore whose waiters are served in arrival order, so no sealing thread starves behind later ones. */
export class Semaphore {
  private held = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`a semaphore needs a limit ≥ 1, got ${limit}`);
  }

  /** Tokens in use. */
  get inUse(): number {
    return this.held;
  }

  /** Callers waiting for a token. */
  get waiting(): number {
    return this.waiters.length;
  }

  async acquire(): Promise<Release> {
    if (this.held < this.limit) {
      this.held++;
    } else {
      // The releaser hands its token straight to the first waiter, so `held` never dips and a newcomer cannot jump the queue.
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.held--;
    };
  }
}

/** `[processors.limitation.concurrent]`: one semaphore per limited stage; stages without a limit never wait. */
export class StageLimits {
  private readonly semaphores = new Map<Stage, Semaphore>();

  constructor(concurrent: Partial<Record<Stage, number>>) {
    for (const [stage, limit] of Object.entries(concurrent) as [Stage, number | undefined][]) {
      if (limit !== undefined) this.semaphores.set(stage, new Semaphore(limit));
    }
  }

  acquire(stage: Stage): Promise<Release> {
    const semaphore = this.semaphores.get(stage);
    return semaphore ? semaphore.acquire() : Promise.resolve(() => undefined);
  }
}
