/**
 * The four failure levels of a sealing step (damocles' model). The level decides what the thread does:
 * temporary → retry with backoff; permanent and critical → pause with the error; abort → drop the sector.
 */
export const FAILURE_LEVELS = ['Temporary', 'Permanent', 'Abort', 'Critical'] as const;
export type FailureLevel = (typeof FAILURE_LEVELS)[number];

export class SealingError extends Error {
  override readonly name = 'SealingError';
  constructor(
    readonly level: FailureLevel,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const temporary = (message: string, cause?: unknown): SealingError =>
  new SealingError('Temporary', message, { cause });
export const permanent = (message: string, cause?: unknown): SealingError =>
  new SealingError('Permanent', message, { cause });
export const abort = (message: string, cause?: unknown): SealingError => new SealingError('Abort', message, { cause });
export const critical = (message: string, cause?: unknown): SealingError =>
  new SealingError('Critical', message, { cause });

/** Anything thrown that is not a SealingError is treated as temporary: unknown failures deserve a retry, not a drop. */
export function failureLevelOf(err: unknown): FailureLevel {
  return err instanceof SealingError ? err.level : 'Temporary';
}

/** The message with its cause chain, as reported to the manager and shown in `last_error`. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(': ');
}
