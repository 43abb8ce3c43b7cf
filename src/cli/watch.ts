import { Command } from 'commander';
import { formatDuration } from '../core/units.js';
import type { WorkerThreadInfo } from '../core/wire/workerControl.js';
import { LIST_MAX, type SectorSummary } from '../manager/api/admin.js';
import { SECTOR_STATUSES } from '../manager/sectors/lifecycle.js';
import { managerClient } from './managerClient.js';
import { arg, durationArg } from './options.js';
import { resolveWorker, type WorkerRow } from './resolveWorker.js';
import { renderTable } from './table.js';
import { printable } from '../core/terminalText.js';

/** What one frame shows, read from the manager (and, for paused threads, from their workers). */
export interface PipelineSnapshot {
  at: number;
  sectors: SectorSummary[];
  workers: WorkerRow[];
  /** The paused threads of each worker whose pings count some; `error` when that worker could not be asked. */
  paused: { worker: string; threads: WorkerThreadInfo[]; error: string | null }[];
}

const MIN_INTERVAL_MS = 200;
const intervalArg = arg((text) => {
  const ms = durationArg(text);
  if (ms < MIN_INTERVAL_MS) throw new Error(`invalid --interval "${text}": expected a duration of at least ${MIN_INTERVAL_MS}ms, e.g. 2s`);
  return ms;
});
const topArg = arg((text) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 100) throw new Error(`invalid --top "${text}": expected 1–100`);
  return n;
});

/** A ping older than this is marked expired, as `worker list` does by default. */
const PING_EXPIRED_MS = 600_000;

async function takeSnapshot(home: string): Promise<PipelineSnapshot> {
  const manager = managerClient(home);
  const [sectors, workers] = await Promise.all([
    manager.call<SectorSummary[]>('SealFleet.SectorsList', [{ Limit: LIST_MAX }]),
    manager.call<WorkerRow[]>('SealFleet.WorkerList', [{ Limit: LIST_MAX }]),
  ]);
  const paused = await Promise.all(
    workers
      .filter((w) => w.Summary.Paused > 0)
      .map(async (w) => {
        try {
          const threads = await (await resolveWorker(home, w.Name)).list();
          return { worker: w.Name, threads: threads.filter((t) => t.thread_state.state === 'Paused'), error: null };
        } catch (err) {
          return { worker: w.Name, threads: [], error: (err as Error).message };
        }
      }),
  );
  return { at: Date.now(), sectors, workers, paused };
}

const ago = (now: number, at: number): string => formatDuration(now - at);

/** One frame of the pipeline view: plain text, escaped, every line ended. */
export function renderFrame(s: PipelineSnapshot, top: number): string {
  const parts: [title: string, body: string][] = [];
  const plans = [...new Set(s.sectors.map((x) => x.Plan))].sort();
  parts.push([
    'Sectors by plan',
    plans.length === 0 ? '(none)\n' : renderTable(['Plan', ...SECTOR_STATUSES], plans.map((p) => [p, ...SECTOR_STATUSES.map((st) => s.sectors.filter((x) => x.Plan === p && x.Status === st).length)])),
  ]);

  const sealing = s.sectors.filter((x) => x.Status === 'sealing');
  const groups = new Map<string, SectorSummary[]>();
  for (const x of sealing) {
    const key = `${x.Plan}\0${x.Stage}\0${x.State ?? 'Allocated'}`;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  const byState = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b));
  parts.push([
    'Being sealed, by state',
    byState.length === 0
      ? '(none)\n'
      : renderTable(['Plan', 'Stage', 'State', 'Sectors', 'LongestInState'], byState.map(([key, xs]) => [...key.split('\0'), xs.length, ago(s.at, Math.min(...xs.map((x) => x.UpdatedAt)))])),
  ]);

  const longest = [...sealing].sort((a, b) => a.UpdatedAt - b.UpdatedAt).slice(0, top);
  parts.push([
    `Longest in their state (top ${top})`,
    longest.length === 0 ? '(none)\n' : renderTable(['Sector', 'Plan', 'State', 'Worker', 'InState', 'Age'], longest.map((x) => [x.Sector, x.Plan, x.State ?? 'Allocated', x.Worker ?? '-', ago(s.at, x.UpdatedAt), ago(s.at, x.CreatedAt)])),
  ]);

  parts.push([
    'Workers',
    s.workers.length === 0
      ? '(none has pinged)\n'
      : renderTable(
          ['Name', 'Threads', 'Running', 'Waiting', 'Paused', 'Errors', 'LastPing'],
          s.workers.map((w) => [w.Name, w.Summary.Threads, w.Summary.Running, w.Summary.Waiting, w.Summary.Paused, w.Summary.Errors, `${ago(s.at, w.LastPing)}${s.at - w.LastPing > PING_EXPIRED_MS ? ' (expired)' : ''}`]),
        ),
  ]);

  const pausedRows = s.paused.flatMap((p) =>
    p.error !== null
      ? [[p.worker, '-', '-', '-', '-', `cannot list its threads: ${p.error}`]]
      : p.threads.map((t) => [p.worker, t.index, t.job_id ?? '-', t.job_state || '-', formatDuration((t.thread_state.elapsed ?? 0) * 1000), t.last_error ?? '-']),
  );
  parts.push(['Paused threads', pausedRows.length === 0 ? '(none)\n' : renderTable(['Worker', '#', 'Sector', 'State', 'PausedFor', 'LastErr'], pausedRows)]);
  return parts.map(([title, body]) => `${title}\n${body}`).join('\n');
}

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
/** Cursor home, then each line cleared to its end and everything below the frame cleared: no flicker. */
const redraw = (frame: string): string => `\x1b[H${frame.replace(/\n/g, '\x1b[K\n')}\x1b[J`;

/** `util sealer sectors watch`. */
export function watchCommand(homeOf: (o: { home?: string }) => string): Command {
  return new Command('watch')
    .description('a live view of the pipeline: sectors per plan and state, the longest in their state, workers and paused threads')
    .option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)')
    .option('--interval <duration>', `time between frames (at least ${MIN_INTERVAL_MS}ms)`, intervalArg, 2000)
    .option('--top <n>', 'how many of the sectors longest in their state', topArg, 5)
    .option('--once', 'print one frame and exit (for scripts)')
    .action(async (o: { home?: string; interval: number; top: number; once?: boolean }) => {
      const home = homeOf(o);
      const header = (at: number, interval: number): string => `sealfleet pipeline at ${new Date(at).toISOString().slice(0, 19).replace('T', ' ')}Z (every ${formatDuration(interval)}; Ctrl-C quits)\n\n`;
      if (o.once) {
        const snapshot = await takeSnapshot(home);
        process.stdout.write(renderFrame(snapshot, o.top));
        return;
      }
      const tty = process.stdout.isTTY === true;
      const quit = (): never => {
        if (tty) process.stdout.write(`${SHOW_CURSOR}\n`);
        process.exit(0);
      };
      process.on('SIGINT', quit);
      process.on('SIGTERM', quit);
      if (tty) process.stdout.write(`${HIDE_CURSOR}\x1b[2J`);
      for (;;) {
        const at = Date.now();
        // A manager that is down or restarting is shown as such; the view carries on when it is back.
        const body = await takeSnapshot(home).then(
          (snapshot) => renderFrame(snapshot, o.top),
          (err: unknown) => `${printable(`cannot read the manager: ${(err as Error).message}`)}\n`,
        );
        const frame = header(at, o.interval) + body;
        process.stdout.write(tty ? redraw(frame) : `${frame}\n`);
        await new Promise((r) => setTimeout(r, o.interval));
      }
    });
}
