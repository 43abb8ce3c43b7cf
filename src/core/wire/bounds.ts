import { z } from 'zod';

/**
 * Upper bounds of the strings and arrays the APIs accept. Every value a caller sends ends up in a row,
 * a log line or a reply; without a bound one call can add megabytes to each of them.
 */
export const BOUNDS = {
  /** Names of workers, instances, stores, states, events, miners' addresses: 256 characters. */
  name: 256,
  /** File system paths and locations: Linux PATH_MAX. */
  path: 4096,
  /** Free texts such as error descriptions and abort reasons: enough for a stack trace, not for a file. */
  text: 16 * 1024,
  /**
   * Base64 proofs. The largest real ones are a few KiB (a 64 GiB PoRep is 10 partitions of 192 bytes, a
   * 32 GiB snap-up 16); 64 KiB leaves room for aggregated or non-interactive proofs.
   */
  proof: 64 * 1024,
  /** Lists of miners, proof types, store candidates: more than any cluster configures. */
  items: 1024,
  /** Pieces of one sector: 8192 pieces of at least 8 MiB fill a 64 GiB sector. */
  pieces: 8192,
} as const;

/** C0/C1 controls (NUL, ESC of terminal escapes …) and the bidi controls that make a name read as another. */
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** A surrogate without its other half (String.isWellFormed is newer than our Node 20 typings). */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

const printable = (text: string): boolean => !UNPRINTABLE.test(text) && !LONE_SURROGATE.test(text);

/** A string of at most `max` characters. */
export const boundedString = (max: number) => z.string().max(max, `expected at most ${max} characters`);

/**
 * A printable, well-formed name (no control or bidi characters, no lone surrogates), 1–256 characters;
 * `missing` is the message for an empty one.
 */
export const requiredName = (missing: string) =>
  boundedString(BOUNDS.name).min(1, missing).refine(printable, 'expected printable text without control or bidi characters');

export const nameString = requiredName('expected a non-empty name');

/** `nameString` that may be empty (state and event labels, where the first report has no previous state). */
export const labelString = boundedString(BOUNDS.name).refine(printable, 'expected printable text without control or bidi characters');

/** A printable path or location of at most 4096 characters (may be empty where the caller has none). */
export const pathString = boundedString(BOUNDS.path).refine(printable, 'expected a path without control or bidi characters');

/** A free text (an error description, a reason) of at most 16 KiB characters; any content. */
export const textString = boundedString(BOUNDS.text);

/** An array of at most `max` items. */
export const boundedArray = <T extends z.ZodType>(item: T, max: number = BOUNDS.items) =>
  z.array(item).max(max, `expected at most ${max} items`);

/**
 * Cuts a text to at most `max` characters, keeping its head and its tail (where an error's cause and
 * its outermost context are) and saying how much was left out in between.
 */
export function truncateMiddle(text: string, max: number = BOUNDS.text): string {
  if (text.length <= max) return text;
  const marker = (cut: number) => `\n… [${cut} characters cut] …\n`;
  const keep = max - marker(text.length).length;
  const head = Math.ceil(keep / 2);
  const tail = keep - head;
  const cut = text.length - head - tail;
  // Never split a surrogate pair: a lone half would make the text malformed.
  const end = /[\ud800-\udbff]/.test(text[head - 1] ?? '') ? head - 1 : head;
  const start = /[\udc00-\udfff]/.test(text[text.length - tail] ?? '') ? text.length - tail + 1 : text.length - tail;
  return `${text.slice(0, end)}${marker(cut)}${text.slice(start)}`;
}
