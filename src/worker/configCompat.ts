import { z } from 'zod';

/**
 * damocles-worker ignores keys it does not know, so its configs carry keys that mean something there and
 * nothing here. Such a key is accepted (its value still checked, so a damocles config with a bad value is
 * refused as damocles refuses it) and produces exactly one warning line; a key neither knows stays an error.
 */

const NO_EFFECT: unique symbol = Symbol('accepted with no effect');

/** What a `noEffect` key parses to, until `takeNoEffectKeys` collects and removes it. */
export interface NoEffect {
  readonly [NO_EFFECT]: true;
}

const isNoEffect = (value: unknown): value is NoEffect => typeof value === 'object' && value !== null && NO_EFFECT in value;

/** A key accepted for damocles compatibility that does nothing here; `schema` checks its value as damocles does. */
export const noEffect = <T extends z.ZodType>(schema: T) => schema.transform((): NoEffect => ({ [NO_EFFECT]: true })).optional();

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && [Object.prototype, null].includes(Object.getPrototypeOf(value) as object | null);

/**
 * The dotted paths (`processors.pc1.0.numa_preferred`) of every `noEffect` key present in a parsed config,
 * in document order. The keys are removed from `parsed`, so nothing downstream carries them along.
 */
export function takeNoEffectKeys(parsed: unknown, path: readonly string[] = []): string[] {
  if (Array.isArray(parsed)) return parsed.flatMap((item, i) => takeNoEffectKeys(item, [...path, String(i)]));
  if (!isPlainObject(parsed)) return [];
  const keys: string[] = [];
  for (const [key, value] of Object.entries(parsed)) {
    if (isNoEffect(value)) {
      keys.push([...path, key].join('.'));
      delete parsed[key];
    } else {
      keys.push(...takeNoEffectKeys(value, [...path, key]));
    }
  }
  return keys;
}

/** The one warning for a key that has no effect here; `why` says more when the reason is not obvious. */
export const noEffectText = (key: string, why?: string): string =>
  `key "${key}" is accepted for damocles compatibility and has no effect here${why ? `: ${why}` : ''}`;
