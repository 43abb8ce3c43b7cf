import type { ThreadLogRow } from '../../core/wire/dashboard.js';
import { formatDuration } from '../format.js';

/** A thread log row's move, how long its step and processors took, and its error: the cells the sector and worker pages share. */
export function StepCells({ row }: { row: ThreadLogRow }) {
  return (
    <>
      <td>{row.from}</td><td>{row.event}</td><td>{row.to}</td>
      <td>{row.took_ms === null ? '-' : formatDuration(row.took_ms)}</td>
      <td>{row.processor_ms === null ? '-' : formatDuration(row.processor_ms)}</td>
      <td class="text">{row.level ? `${row.level}: ${row.error ?? ''}` : '-'}</td>
    </>
  );
}
