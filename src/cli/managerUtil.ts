import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseSectorId } from '../core/sectorId.js';
import { formatDuration } from '../core/units.js';
import type { SectorDetail, SectorEvent, SectorSummary } from '../manager/api/admin.js';
import { SECTOR_STATUSES } from '../manager/sectors/lifecycle.js';
import { arg, defaultHome, durationArg, indexArg } from './options.js';
import { managerClient } from './managerClient.js';
import { addProvingCommands, addWdPoStCommands } from './provingUtil.js';
import { renderTable } from './table.js';
import { printableJson, printLine } from '../core/terminalText.js';
import { logLimitArg, renderThreadLog } from './threadLog.js';
import { resolveWorker, type WorkerRow } from './resolveWorker.js';
import { watchCommand } from './watch.js';

const sectorArg = arg((text) => {
  const id = parseSectorId(text);
  return { Miner: id.miner, Number: id.number };
});
const minerArg = arg((text) => {
  const m = /^[tf]0(\d+)$/.exec(text) ?? /^(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid miner "${text}": expected t0<id> or the id`);
  return Number(m[1]);
});

const out = (text: string): void => {
  process.stdout.write(text);
};
const json = (value: unknown): void => out(`${printableJson(value)}\n`);
const line = (text: string): void => out(printLine(text));
const ago = (ms: number): string => formatDuration(Date.now() - ms);
/** `sealing, finalized or aborted`. */
const STATUS_CHOICES = `${SECTOR_STATUSES.slice(0, -1).join(', ')} or ${SECTOR_STATUSES.at(-1) ?? ''}`;

export function utilCommand(): Command {
  const util = new Command('util').description('operate the cluster through the manager');
  const homeOpt = (c: Command): Command => c.option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)');
  const homeOf = (o: { home?: string }): string => resolve(o.home ?? defaultHome());

  const worker = util.command('worker').description('workers that ping this manager, and their sealing threads');
  homeOpt(worker.command('list').description('every worker that pinged, with its thread summary'))
    .option('--json', 'print JSON')
    .option('--expire <duration>', 'a ping older than this is marked with (!)', durationArg, 600_000)
    .action(async (o: { home?: string; json?: boolean; expire: number }) => {
      const rows = await managerClient(homeOf(o)).call<WorkerRow[]>('SealFleet.WorkerList');
      if (o.json) return json(rows);
      out(renderTable(
        ['Name', 'Dest', 'Threads', 'Empty', 'Paused', 'Errors', 'LastPing(with ! if expired)'],
        rows.map((w) => [w.Name, w.Dest, w.Summary.Threads, w.Summary.Empty, w.Summary.Paused, w.Summary.Errors, `${ago(w.LastPing)}${Date.now() - w.LastPing > o.expire ? ' (!)' : ''}`]),
      ));
    });
  homeOpt(worker.command('info').description("a worker's sealing threads").argument('<worker>', 'worker name or address'))
    .option('--json', 'print JSON')
    .action(async (name: string, o: { home?: string; json?: boolean }) => {
      const threads = await (await resolveWorker(homeOf(o), name)).list();
      if (o.json) return json(threads);
      out(renderTable(
        ['Index', 'Loc', 'SectorID', 'Paused', 'PausedElapsed', 'State', 'LastErr'],
        threads.map((t) => {
          const paused = t.thread_state.state === 'Paused';
          return [t.index, t.location, t.job_id ?? '-', paused, paused ? formatDuration((t.thread_state.elapsed ?? 0) * 1000) : '-', t.job_state || '-', t.last_error ?? '-'];
        }),
      ));
    });
  homeOpt(worker.command('pause').description('pause a sealing thread').argument('<worker>', 'worker name or address').argument('<index>', 'thread index', indexArg))
    .action(async (name: string, index: number, o: { home?: string }) => {
      const w = await resolveWorker(homeOf(o), name);
      const done = await w.pause(index);
      line(`${w.name} #${index}: ${done ? 'pause requested' : 'already paused'}`);
    });
  homeOpt(worker.command('forget').description('free a worker name: the next worker to ping with it registers it (for a retired or re-tokened worker)').argument('<name>', 'worker name'))
    .action(async (name: string, o: { home?: string }) => {
      const known = await managerClient(homeOf(o)).call<boolean>('SealFleet.WorkerForget', [name]);
      if (!known) throw new Error(`no worker named "${name}" has pinged this manager`);
      out(`${name}: forgotten; the next worker to ping with this name registers it\n`);
    });
  homeOpt(
    worker
      .command('resume')
      .description('resume a paused sealing thread, optionally from another state of its plan')
      .argument('<worker>', 'worker name or address')
      .argument('<index>', 'thread index', indexArg)
      .argument('[state]', 'the state to resume in, e.g. TreeDBuilt or Aborted'),
  ).action(async (name: string, index: number, state: string | undefined, o: { home?: string }) => {
    const w = await resolveWorker(homeOf(o), name);
    await w.resume(index, state ?? null);
    line(`${w.name} #${index}: resumed${state ? ` in state ${state}` : ''}`);
  });
  homeOpt(
    worker
      .command('log')
      .description("a sealing thread's own event log: each transition, how long its step took and how much of it ran in processors")
      .argument('<worker>', 'worker name or address')
      .argument('<index>', 'thread index', indexArg),
  )
    .option('-n, --limit <n>', 'how many of the latest rows', logLimitArg, 50)
    .option('--json', 'print JSON')
    .action(async (name: string, index: number, o: { home?: string; limit: number; json?: boolean }) => {
      const events = await (await resolveWorker(homeOf(o), name)).log(index, o.limit);
      if (o.json) return json(events);
      out(renderThreadLog(events));
    });
  addWdPoStCommands(worker);

  const sealer = util.command('sealer').description('sector records');
  const sectors = sealer.command('sectors').description('sectors this manager numbered');
  addProvingCommands(sealer, sectors);
  homeOpt(sectors.command('list').description('sectors with their latest state'))
    .option('--state <state>', 'only sectors whose worker last reported this state')
    .option('--status <status>', `only ${STATUS_CHOICES} sectors`, (v) => {
      if (!(SECTOR_STATUSES as readonly string[]).includes(v)) throw new InvalidArgumentError(`invalid status "${v}": expected ${STATUS_CHOICES}`);
      return v;
    })
    .option('--miner <miner>', 'only this miner', minerArg)
    .option('--json', 'print JSON')
    .action(async (o: { home?: string; state?: string; status?: string; miner?: number; json?: boolean }) => {
      const filter = { ...(o.state ? { State: o.state } : {}), ...(o.status ? { Status: o.status } : {}), ...(o.miner !== undefined ? { Miner: o.miner } : {}) };
      const rows = await managerClient(homeOf(o)).call<SectorSummary[]>('SealFleet.SectorsList', [filter]);
      if (o.json) return json(rows);
      out(renderTable(
        ['Sector', 'Status', 'Plan', 'State', 'Worker', 'Updated', 'Note'],
        rows.map((s) => [s.Sector, s.Status, s.Plan, s.Orphaned ? 'orphaned' : s.State ?? '-', s.Worker ?? '-', `${ago(s.UpdatedAt)} ago`, s.AbortReason ?? (s.AbortRequested ? `abort requested: ${s.AbortRequested}` : '-')]),
      ));
    });
  homeOpt(sectors.command('state').description("one sector's record").argument('<sector>', 'sector id, e.g. s-t01000-2', sectorArg))
    .option('--json', 'print JSON')
    .action(async (id: { Miner: number; Number: number }, o: { home?: string; json?: boolean }) => {
      const s = await managerClient(homeOf(o)).call<SectorDetail>('SealFleet.SectorState', [id]);
      if (o.json) return json(s);
      const lines: [string, unknown][] = [
        ['Sector', s.Sector], ['Status', s.Status], ['Plan', s.Plan], ['State', s.State ?? '-'], ['Worker', s.Worker ?? '-'],
        ['Location', s.Location ?? '-'], ['ProofType', s.ProofType], ['Pieces', s.Pieces.length], ['PreCommitMessage', s.PreCommitMessage ?? '-'],
        ['ProveMessage', s.ProveMessage ?? '-'], ['PersistInstance', s.PersistInstance ?? '-'], ['UpgradeMessage', s.UpgradeMessage ?? '-'],
        ['AbortReason', s.AbortReason ?? '-'], ['Created', `${ago(s.CreatedAt)} ago`], ['Updated', `${ago(s.UpdatedAt)} ago`],
      ];
      out(renderTable(['Field', 'Value'], lines.map(([k, v]) => [k, String(v)])));
    });
  homeOpt(sectors.command('log').description("one sector's event history (the latest events)").argument('<sector>', 'sector id, e.g. s-t01000-2', sectorArg))
    .option('-n, --limit <n>', 'how many of the latest events', logLimitArg, 1000)
    .option('--json', 'print JSON')
    .action(async (id: { Miner: number; Number: number }, o: { home?: string; limit: number; json?: boolean }) => {
      const events = await managerClient(homeOf(o)).call<SectorEvent[]>('SealFleet.SectorLog', [id, o.limit]);
      if (o.json) return json(events);
      const first = events[0]?.At ?? 0;
      out(renderTable(
        ['Time', 'Since start', 'Took', 'Worker', 'From', 'Event', 'To', 'Failure'],
        events.map((e, i) => [
          new Date(e.At).toISOString(),
          formatDuration(e.At - first),
          i === 0 ? '-' : formatDuration(e.At - (events[i - 1] as SectorEvent).At),
          e.Worker ?? '-',
          e.Prev ?? '-',
          e.Event ?? '-',
          e.Next ?? '-',
          e.FailureLevel ? `${e.FailureLevel}: ${e.FailureDesc ?? ''}` : e.FailureDesc ?? '-',
        ]),
      ));
    });
  sectors.addCommand(watchCommand(homeOf));
  homeOpt(sectors.command('abort').description('abort a sector being sealed: its worker drops it at its next report').argument('<sector>', 'sector id', sectorArg))
    .option('--reason <text>', 'recorded with the sector', 'aborted via CLI')
    .action(async (id: { Miner: number; Number: number }, o: { home?: string; reason: string }) => {
      const s = await managerClient(homeOf(o)).call<SectorSummary>('SealFleet.SectorAbort', [id, o.reason]);
      line(`${s.Sector}: abort requested (${o.reason}); ${s.Worker ? `worker ${s.Worker} drops it at its next report` : 'no worker has reported it yet'}`);
    });
  homeOpt(sectors.command('rebuild').description('queue a finalized sector for a rebuild worker').argument('<sector>', 'sector id', sectorArg))
    .action(async (id: { Miner: number; Number: number }, o: { home?: string }) => {
      const s = await managerClient(homeOf(o)).call<SectorSummary>('SealFleet.SectorRebuild', [id]);
      line(`${s.Sector}: queued for rebuild`);
    });

  const deals = util.command('deals').description('deal pieces');
  homeOpt(deals.command('import').description('compute the piece commitment of a file and queue it for sealing').argument('<file>', 'the payload file (readable by the manager daemon)'))
    .option('--miner <miner>', 'only this miner may seal it', minerArg)
    .action(async (file: string, o: { home?: string; miner?: number }) => {
      const r = await managerClient(homeOf(o)).call<{ PieceCID: string; PaddedSize: number; PayloadSize: number; CommitmentBy: string }>('SealFleet.DealsImport', [resolve(file), o.miner ?? null]);
      line(`${r.PieceCID}  padded ${r.PaddedSize} bytes, payload ${r.PayloadSize} bytes, queued (commitment by ${r.CommitmentBy})`);
    });
  homeOpt(deals.command('list').description('imported pieces and where they went'))
    .option('--json', 'print JSON')
    .action(async (o: { home?: string; json?: boolean }) => {
      const rows = await managerClient(homeOf(o)).call<{ PieceCID: string; PaddedSize: number; PayloadSize: number; Status: string; Sector: string | null }[]>('SealFleet.PiecesList');
      if (o.json) return json(rows);
      out(renderTable(['PieceCID', 'Padded', 'Payload', 'Status', 'Sector'], rows.map((p) => [p.PieceCID, p.PaddedSize, p.PayloadSize, p.Status, p.Sector ?? '-'])));
    });
  return util;
}
