/**
 * Text from the wire (worker names, errors, reasons) reaches an operator's terminal. Control characters in
 * it could move the cursor, clear the screen, set the window title or reorder what is shown (C0, DEL, C1,
 * whose U+009B is a one-byte CSI, and the bidi overrides and isolates), and a tab or newline breaks a table
 * row. They print as visible escapes instead; the text is otherwise kept, so an operator sees what was sent.
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves raw of the above: it escapes only C0. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\t': '\\t', '\n': '\\n', '\r': '\\r' };

const hex = (c: string, digits: number): string => (c.codePointAt(0) ?? 0).toString(16).padStart(digits, '0');

/** The text with every control character shown as an escape (`\n`, `\x1b`, `\u202e`). */
export function printable(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? (c <= '\u00ff' ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** `--json` output that is safe on a terminal and parses back to the same value. */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/** One line of output built from wire text: escaped, then ended. */
export const printLine = (text: string): string => `${printable(text)}\n`;
