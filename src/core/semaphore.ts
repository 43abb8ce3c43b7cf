/** Gives a held token back; calling it again does nothing. */
export type Release = () => void;

/** A counting semaphore whose waiters are served in arrival order, so no caller starves behind later ones. */
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
    return this.releaser();
  }

  /** A token if one is free now, else undefined; never queues (a free token means nobody is waiting). */
  tryAcquire(): Release | undefined {
    if (this.held >= this.limit) return undefined;
    this.held++;
    return this.releaser();
  }

  private releaser(): Release {
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
