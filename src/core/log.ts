import { pino, type DestinationStream, type Logger } from 'pino';
import { printable } from './terminalText.js';

export type { Logger };

export const LOG_FORMATS = ['json', 'text'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * `SEALFLEET_LOG_FORMAT` when set, else text for a person at a terminal and JSON lines for anything that
 * reads the output (a pipe, a file, journald, a test).
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, tty: boolean = process.stdout.isTTY === true): LogFormat {
  const wanted = env.SEALFLEET_LOG_FORMAT;
  if (wanted === undefined || wanted === '') return tty ? 'text' : 'json';
  if ((LOG_FORMATS as readonly string[]).includes(wanted)) return wanted as LogFormat;
  throw new Error(`invalid SEALFLEET_LOG_FORMAT "${wanted}": expected ${LOG_FORMATS.join(' or ')}`);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in the line's head rather than as `key=value`. */
const HEAD_FIELDS = new Set(['level', 'time', 'name', 'msg', 'pid', 'hostname']);

const fieldValue = (v: unknown): string => {
  // pino's error serializer: the message says it; the stack is for the JSON form.
  const shown = typeof v === 'object' && v !== null && 'message' in v && 'stack' in v ? v.message : v;
  if (typeof shown !== 'string') return JSON.stringify(shown) ?? String(shown);
  return /[\s"=]/.test(shown) || shown === '' ? JSON.stringify(shown) : shown;
};

/** One of pino's JSON lines as `12:03:04.512 WARN  worker thread paused sector=s-t01000-2 state=PC1Done`. */
export function formatLogLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '--:--:--.---';
  const level = (LEVELS[Number(entry.level)] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([k]) => !HEAD_FIELDS.has(k))
    .map(([k, v]) => `${k}=${fieldValue(v)}`);
  // Wire text (errors, worker names) reaches the terminal escaped, as everywhere else the CLIs print it.
  return `${printable([time, level, String(entry.name ?? '-'), String(entry.msg ?? ''), ...fields].join(' ').trimEnd())}\n`;
}

const textStdout: DestinationStream = { write: (line: string) => process.stdout.write(formatLogLine(line)) };

/**
 * Log lines on stdout, as text or JSON lines (see `logFormat`); `SEALFLEET_LOG` sets the level (trace …
 * fatal, or silent).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  const options = { name, level: process.env.SEALFLEET_LOG ?? 'info', base: { ...bindings } };
  switch (logFormat()) {
    case 'json':
      return pino(options);
    case 'text':
      return pino(options, textStdout);
  }
}
