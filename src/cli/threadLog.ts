import { formatDuration } from '../core/units.js';
import { THREAD_LOG_MAX, type ThreadEvent } from '../core/wire/workerControl.js';
import { arg } from './options.js';
import { renderTable } from './table.js';

/** `--limit` of `worker log`: how many of the latest rows to show. */
export const logLimitArg = arg((text) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > THREAD_LOG_MAX) throw new Error(`invalid --limit "${text}": expected 1–${THREAD_LOG_MAX}`);
  return n;
});

const duration = (ms: number | null): string => (ms === null ? '-' : ms < 10 ? `${ms.toFixed(2)}ms` : formatDuration(ms));

/**
 * A sealing thread's own event log, one row per event: when, which sector, the move, how long the step
 * took and how much of that its processors ran, and the error of a failed attempt.
 */
export function renderThreadLog(events: ThreadEvent[]): string {
  return renderTable(
    ['Time', 'Sector', 'Event', 'From', 'To', 'Took', 'Processors', 'Error'],
    events.map((e) => [
      new Date(e.at).toISOString().slice(0, 19).replace('T', ' '),
      e.sector ?? '-',
      e.event,
      e.from,
      e.to,
      duration(e.took_ms),
      duration(e.processor_ms),
      e.error === null ? '-' : `${e.level ?? ''}: ${e.error}`,
    ]),
  );
}
