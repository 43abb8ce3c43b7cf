import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseSectorId } from '../core/sectorId.js';
import { arg, defaultHome } from './options.js';
import { managerClient } from './managerClient.js';
import { renderTable } from './table.js';
import { printableJson, printLine } from '../core/terminalText.js';
import type { WdPoStJobView } from '../core/wire/wdpost.js';

/**
 * `util sealer proving info | deadlines | faults | submissions | check` and `util sealer sectors extend | terminate |
 * expired | check-expire`: the sealed sectors' life on chain, through the manager (`SealFleet.Proving*`,
 * `SealFleet.Sectors*`); `util worker wdpost list | reset | remove`: the workers' WindowPoSt jobs (`SealFleet.WdPoSt*`).
 */

interface HomeOpt {
  home?: string;
  json?: boolean;
}

const out = (text: string): void => {
  process.stdout.write(text);
};
const json = (value: unknown): void => out(`${printableJson(value)}\n`);
const homeOf = (o: { home?: string }): string => resolve(o.home ?? defaultHome());
const withHome = (c: Command): Command => c.option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)').option('--json', 'print JSON');

const minerArg = arg((text) => {
  const m = /^[tf]0(\d+)$/.exec(text) ?? /^(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid miner "${text}": expected t0<id> or the id`);
  return Number(m[1]);
});
const positiveInt = (what: string) =>
  arg((text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n <= 0) throw new Error(`invalid ${what} "${text}": expected a positive integer`);
    return n;
  });
const sectorOf = (text: string): { Miner: number; Number: number } => {
  const id = parseSectorId(text);
  return { Miner: id.miner, Number: id.number };
};

export function addProvingCommands(sealer: Command, sectors: Command): void {
  const proving = sealer.command('proving').description("Window PoSt: the miners' deadlines, faults, and whether a sector can be proven");
  withHome(proving.command('info').description("a miner's proving period and current deadline"))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .action(async (o: HomeOpt & { miner: number }) => {
      const info = await managerClient(homeOf(o)).call<Record<string, string | number>>('SealFleet.ProvingInfo', [o.miner]);
      if (o.json) return json(info);
      out(renderTable(['Field', 'Value'], Object.entries(info).map(([k, v]) => [k, v])));
    });
  withHome(proving.command('deadlines').description("a miner's deadlines: partitions, sectors, faults"))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .action(async (o: HomeOpt & { miner: number }) => {
      const rows = await managerClient(homeOf(o)).call<{ Index: number; Open: number; Current: boolean; Partitions: number; Sectors: number; Faulty: number; Recovering: number; ProvenPartitions: number | null }[]>(
        'SealFleet.ProvingDeadlines',
        [o.miner],
      );
      if (o.json) return json(rows);
      out(renderTable(
        ['Deadline', 'Open', 'Partitions', 'Sectors', 'Faulty', 'Recovering', 'Proven'],
        rows.map((r) => [`${r.Index}${r.Current ? ' (current)' : ''}`, r.Open, r.Partitions, r.Sectors, r.Faulty, r.Recovering, r.ProvenPartitions === null ? '-' : `${r.ProvenPartitions}/${r.Partitions}`]),
      ));
    });
  withHome(proving.command('faults').description("a miner's faulty sectors, as the chain has them"))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .action(async (o: HomeOpt & { miner: number }) => {
      const rows = await managerClient(homeOf(o)).call<{ Sector: string; Deadline: number; Partition: number; Recovering: boolean }[]>('SealFleet.ProvingFaults', [o.miner]);
      if (o.json) return json(rows);
      out(renderTable(['Sector', 'Deadline', 'Partition', 'Recovering'], rows.map((r) => [r.Sector, r.Deadline, r.Partition, r.Recovering])));
    });
  withHome(proving.command('submissions').description("the Window PoSt proofs the manager sent for a miner, newest first, and how each fared on chain"))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .option('--limit <count>', 'how many, newest first', positiveInt('count'), 20)
    .action(async (o: HomeOpt & { miner: number; limit: number }) => {
      const rows = await managerClient(homeOf(o)).call<
        { PeriodStart: number; Deadline: number; State: string; Attempts: number; Partitions: number[]; Skipped: number[]; Recovering: number[]; Message: string | null; ExitCode: number | null; Error: string | null }[]
      >('SealFleet.ProvingSubmissions', [o.miner, o.limit]);
      if (o.json) return json(rows);
      out(renderTable(
        ['Period', 'Deadline', 'State', 'Attempts', 'Exit', 'Partitions', 'Skipped', 'Message', 'Error'],
        rows.map((r) => [r.PeriodStart, r.Deadline, r.State, r.Attempts, r.ExitCode ?? '-', r.Partitions.join(',') || '-', r.Skipped.join(',') || '-', r.Message ?? '-', r.Error ?? '-']),
      ));
    });
  withHome(proving.command('check').description("whether a sector's files can be proven, and its place on chain").argument('<sector>', 'sector id, e.g. s-t01000-2', arg(sectorOf)))
    .action(async (id: { Miner: number; Number: number }, o: HomeOpt) => {
      const r = await managerClient(homeOf(o)).call<Record<string, string | number | boolean | null>>('SealFleet.ProvingCheck', [id]);
      if (r.Provable !== true) process.exitCode = 1;
      if (o.json) return json(r);
      out(renderTable(['Field', 'Value'], Object.entries(r).map(([k, v]) => [k, v === null ? '-' : v])));
    });
  withHome(sectors.command('extend').description('extend sectors\' expiration on chain (ExtendSectorExpiration2)').argument('<sector...>', 'sector ids of one miner, e.g. s-t01000-2'))
    .option('--to <epoch>', 'the new expiration epoch', positiveInt('epoch'))
    .option('--by <days>', 'extend each by this many days (2880 epochs each)', positiveInt('number of days'))
    .action(async (ids: string[], o: HomeOpt & { to?: number; by?: number }) => {
      if ((o.to === undefined) === (o.by === undefined)) throw new Error('expected exactly one of --to <epoch> or --by <days>');
      const r = await managerClient(homeOf(o)).call<{ Cid: string; Sectors: { Sector: string; From: number; To: number }[] }>('SealFleet.SectorsExtend', [
        { Sectors: ids.map(sectorOf), ...(o.to !== undefined ? { To: o.to } : { By: o.by }) },
      ]);
      if (o.json) return json(r);
      out(renderTable(['Sector', 'From', 'To'], r.Sectors.map((s) => [s.Sector, s.From, s.To])));
      out(printLine(`message ${r.Cid}: each sector's history records the extension once it lands`));
    });
  withHome(sectors.command('terminate').description('terminate sectors on chain (TerminateSectors); their pledge is released').argument('<sector...>', 'sector ids of one miner'))
    .action(async (ids: string[], o: HomeOpt) => {
      const r = await managerClient(homeOf(o)).call<{ Cid: string; Sectors: string[] }>('SealFleet.SectorsTerminate', [ids.map(sectorOf)]);
      if (o.json) return json(r);
      out(printLine(`${r.Sectors.join(', ')}: termination sent in message ${r.Cid}; each sector's history records it once it lands`));
    });
  withHome(sectors.command('expired').description("this manager's sealed sectors no longer active on chain (expired or terminated)"))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .action(async (o: HomeOpt & { miner: number }) => {
      const rows = await managerClient(homeOf(o)).call<{ Sector: string; Expiration: number | null }[]>('SealFleet.SectorsExpired', [o.miner]);
      if (o.json) return json(rows);
      out(renderTable(['Sector', 'Expiration'], rows.map((r) => [r.Sector, r.Expiration ?? '-'])));
    });
  withHome(sectors.command('check-expire').description('active sectors expiring soon, soonest first'))
    .requiredOption('--miner <miner>', 'the miner, e.g. t01000', minerArg)
    .option('--within <epochs>', 'expiring within this many epochs of the head', positiveInt('number of epochs'), 2880 * 60)
    .action(async (o: HomeOpt & { miner: number; within: number }) => {
      const rows = await managerClient(homeOf(o)).call<{ Sector: string; Expiration: number; EpochsLeft: number }[]>('SealFleet.SectorsCheckExpire', [o.miner, o.within]);
      if (o.json) return json(rows);
      out(renderTable(['Sector', 'Expiration', 'EpochsLeft'], rows.map((r) => [r.Sector, r.Expiration, r.EpochsLeft])));
    });
}

/** `util worker wdpost`, damocles' names: the WindowPoSt jobs the poster hands to workers' wdpost threads. */
export function addWdPoStCommands(worker: Command): void {
  const wdpost = worker.command('wdpost').description("the workers' WindowPoSt jobs ([proving.worker_prover]): who took each, and how it ended");
  withHome(wdpost.command('list').description('every job, newest first'))
    .action(async (o: HomeOpt) => {
      const rows = await managerClient(homeOf(o)).call<WdPoStJobView[]>('SealFleet.WdPoStJobs', []);
      if (o.json) return json(rows);
      const time = (at: number | null): string => (at === null ? '-' : new Date(at).toISOString());
      const outcome = (r: WdPoStJobView): string =>
        r.FallbackAt !== null ? `proven by the manager: ${r.Error ?? ''}` : r.Proven ? 'proven' : r.Faults.length > 0 ? `faults ${r.Faults.join(',')}` : (r.Error ?? '-');
      out(renderTable(
        ['ID', 'Miner', 'Sectors', 'State', 'Tries', 'Worker', 'Created', 'Finished', 'Outcome'],
        rows.map((r) => [r.ID, `t0${r.Miner}`, r.Sectors, r.State, r.TryNum, r.Worker ?? '-', time(r.CreatedAt), time(r.FinishedAt), r.State === 'finished' ? outcome(r) : '-']),
      ));
    });
  withHome(wdpost.command('reset').description('put a job back in the queue with its tries cleared, for any worker to take').argument('<id>', 'job id, as wdpost list shows it'))
    .action(async (id: string, o: HomeOpt) => {
      await managerClient(homeOf(o)).call('SealFleet.WdPoStResetJob', [id]);
      if (o.json) return json({ ID: id, State: 'ready2run' });
      out(printLine(`job ${id} is ready to run again`));
    });
  withHome(wdpost.command('remove').description('delete a job; a poster still waiting for it proves the deadline itself').argument('<id>', 'job id, as wdpost list shows it'))
    .action(async (id: string, o: HomeOpt) => {
      await managerClient(homeOf(o)).call('SealFleet.WdPoStRemoveJob', [id]);
      if (o.json) return json({ ID: id, Removed: true });
      out(printLine(`job ${id} removed`));
    });
}
