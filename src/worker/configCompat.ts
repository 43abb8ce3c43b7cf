/**
 * Warnings about a worker config that loads: damocles keys read and ignored, and values damocles itself ignores.
 * They are recorded while the (synchronous) load runs and handed back by `loadWorkerConfig`, so the daemon
 * logs each once at start.
 */
const pending: string[] = [];

/** `key` (dotted, as in error messages) is a damocles key that sealfleet accepts and does nothing with. */
export function noEffect(key: string): void {
  pending.push(`key "${key}" is accepted for damocles compatibility and has no effect here`);
}

export function configWarning(text: string): void {
  pending.push(text);
}

/** The warnings recorded since the last call. */
export function takeConfigWarnings(): string[] {
  return pending.splice(0);
}
