import Table from 'cli-table3';
import { printable } from '../core/terminalText.js';

const NO_BORDER = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '',
  middle: '  ',
};

/** Columns aligned with two spaces between them, no borders: the damocles tabwriter look. Cells print escaped. */
export function renderTable(head: string[], rows: (string | number | boolean)[][]): string {
  const table = new Table({ head, chars: NO_BORDER, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
  for (const row of rows) table.push(row.map((cell) => printable(String(cell))));
  return `${table.toString().split('\n').map((l) => l.trimEnd()).join('\n')}\n`;
}
