/**
 * Group commit: writes that arrive while one transaction is committing wait and go together in the next
 * one, so a burst of N small writes pays for one commit instead of N. A lone write waits one turn of the
 * event loop, no timer. Each caller is answered only after the transaction holding its write has committed,
 * so "answered" still means "durable".
 */
export class GroupCommit<T, R> {
  private queue: { item: T; resolve: (result: R) => void; reject: (err: unknown) => void }[] = [];
  private running = false;

  /**
   * `commit` writes every item in one transaction and returns one result per item, in order; `maxBatch`
   * bounds a transaction (SQL variable limits, latency).
   */
  constructor(
    private readonly commit: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 256,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      // Let the requests that are already readable reach `submit` first: a transaction runs in microtasks
      // only, so without this turn of the event loop no batch would ever hold more than one write.
      await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const results = await this.commit(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i] as R));
      } catch (err) {
        if (batch.length === 1) {
          batch[0]?.reject(err);
          continue;
        }
        // One bad write must not fail the others that happened to share its transaction: commit each alone.
        for (const b of batch) await this.commit([b.item]).then((r) => b.resolve(r[0] as R), b.reject);
      }
    }
    this.running = false;
  }
}
