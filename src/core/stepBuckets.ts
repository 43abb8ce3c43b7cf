/**
 * Histogram buckets (seconds) of sealing steps and processor tasks on both daemons, from a quick RPC to a
 * 32GiB PC1 of hours: the same buckets on both sides keep the worker's and the manager's views comparable.
 */
export const STEP_BUCKETS = [0.01, 0.1, 1, 10, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600];
