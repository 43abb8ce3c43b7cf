import { z } from 'zod';
import type { LotusClient } from '../../chain/client.js';
import { fromRunsJson } from '../../chain/bitfield.js';
import { encodeExtendSectorExpiration2, encodeTerminateSectors, MinerMethod, type PartitionSectors } from '../../chain/minerParams.js';
import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { method, type MethodDef } from '../../core/rpc/server.js';
import { SectorID } from '../../core/wire/sealer.js';
import type { Miners, MinerFacts } from '../commitment/miners.js';
import { deadlineOpen, readPartitions } from '../proving/deadlines.js';
import type { ManagerDb } from '../db/open.js';
import type { LifeMessages } from '../proving/lifeMessages.js';
import { SubmissionDetail } from '../proving/poster.js';
import type { SectorFiles } from '../proving/sectorFiles.js';
import { sectorKey, type SectorStore } from '../sectors/store.js';

/** builtin-actors `EPOCHS_IN_DAY` (30-second epochs), for `extend --by <days>`. */
export const EPOCHS_PER_DAY = 2880;

const Miner = z.number().int().nonnegative();
const Sectors = z.array(SectorID).min(1, 'expected at least one sector').max(25_000);
const Extend = z
  .strictObject({ Sectors, To: z.number().int().positive().optional(), By: z.number().int().positive().optional() })
  .refine((e) => (e.To === undefined) !== (e.By === undefined), 'expected exactly one of To (an epoch) or By (days)');
const Within = z.number().int().nonnegative();
const Limit = z.number().int().positive().max(10_000).optional();

const appError = (message: string): RpcError => new RpcError(RPC_CODES.Application, message);

/**
 * The operator API of proving and of the sealed sector's life (`util sealer proving …`, `util sealer
 * sectors extend | terminate | expired | check-expire`): reads need `read`, messages `admin`.
 */
export function provingMethods(d: { db: ManagerDb; lotus: LotusClient; miners: Miners; records: SectorStore; files: SectorFiles; messages: LifeMessages }): Record<string, MethodDef> {
  /** One miner's sectors, each on chain, located in its deadline and partition. */
  const locate = async (sectors: SectorID[]): Promise<{ miner: MinerFacts; at: { number: number; deadline: number; partition: number; expiration: number }[] }> => {
    const minerIds = [...new Set(sectors.map((s) => s.Miner))];
    if (minerIds.length !== 1) throw appError(`sectors of several miners (${minerIds.map((m) => `t0${m}`).join(', ')}): expected sectors of one miner per call`);
    const miner = d.miners.get(minerIds[0] as number);
    const at = [];
    for (const s of sectors) {
      const info = await d.lotus.stateSectorGetInfo(miner.address, s.Number);
      if (!info) throw appError(`sector ${sectorKey(s)} is not active on chain (never proven, expired or terminated)`);
      const where = await d.lotus.stateSectorPartition(miner.address, s.Number);
      at.push({ number: s.Number, deadline: where.Deadline, partition: where.Partition, expiration: info.Expiration });
    }
    return { miner, at };
  };
  const group = <T extends { deadline: number; partition: number; number: number }>(at: T[], by: (a: T) => string = () => ''): (PartitionSectors & { key: string })[] => {
    const out = new Map<string, PartitionSectors & { key: string }>();
    for (const a of at) {
      const k = `${a.deadline}/${a.partition}/${by(a)}`;
      const entry = out.get(k) ?? { deadline: a.deadline, partition: a.partition, sectors: [], key: by(a) };
      entry.sectors.push(a.number);
      out.set(k, entry);
    }
    return [...out.values()].map((e) => ({ ...e, sectors: e.sectors.sort((x, y) => x - y) }));
  };
  const records = async (miner: number): Promise<{ number: number; expiration: number | null }[]> => {
    const m = d.miners.get(miner);
    const rows = (await d.records.list({ miner })).filter((r) => r.status === 'finalized' || r.plan === 'snapup' || r.plan === 'rebuild');
    const out = [];
    for (const r of rows) out.push({ number: Number(r.number), expiration: (await d.lotus.stateSectorGetInfo(m.address, Number(r.number)))?.Expiration ?? null });
    return out;
  };

  const table: Record<string, MethodDef> = {
    ProvingInfo: method([Miner], async (miner) => {
      const m = d.miners.get(miner);
      const dl = await d.lotus.stateMinerProvingDeadline(m.address);
      const faults = fromRunsJson(await d.lotus.stateMinerFaults(m.address));
      const recoveries = fromRunsJson(await d.lotus.stateMinerRecoveries(m.address));
      return {
        Miner: m.address,
        CurrentEpoch: dl.CurrentEpoch,
        PeriodStart: dl.PeriodStart,
        Deadline: dl.Index,
        Open: dl.Open,
        Close: dl.Close,
        Challenge: dl.Challenge,
        FaultCutoff: dl.FaultCutoff,
        Deadlines: dl.WPoStPeriodDeadlines,
        ProvingPeriod: dl.WPoStProvingPeriod,
        Faults: faults.length,
        Recoveries: recoveries.length,
      };
    }),
    ProvingDeadlines: method([Miner], async (miner) => {
      const m = d.miners.get(miner);
      const dl = await d.lotus.stateMinerProvingDeadline(m.address);
      const deadlines = await d.lotus.stateMinerDeadlines(m.address);
      const out = [];
      for (let index = 0; index < dl.WPoStPeriodDeadlines; index++) {
        const parts = await readPartitions(d.lotus, m.address, index);
        const count = (f: (p: (typeof parts)[number]) => Set<number>): number => parts.reduce((sum, p) => sum + f(p).size, 0);
        const proven = index === dl.Index ? fromRunsJson(deadlines[index]?.PostSubmissions ?? [0]).length : null;
        out.push({ Index: index, Open: deadlineOpen(dl, index).open, Current: index === dl.Index, Partitions: parts.length, Sectors: count((p) => p.live), Faulty: count((p) => p.faulty), Recovering: count((p) => p.recovering), ProvenPartitions: proven });
      }
      return out;
    }),
    ProvingFaults: method([Miner], async (miner) => {
      const m = d.miners.get(miner);
      const recovering = new Set(fromRunsJson(await d.lotus.stateMinerRecoveries(m.address)));
      const out = [];
      for (const n of fromRunsJson(await d.lotus.stateMinerFaults(m.address))) {
        const where = await d.lotus.stateSectorPartition(m.address, n);
        out.push({ Sector: sectorKey({ Miner: miner, Number: n }), Deadline: where.Deadline, Partition: where.Partition, Recovering: recovering.has(n) });
      }
      return out;
    }),
    /** The poster's Window PoSt submissions, newest first: what each proved, and how it fared on chain. */
    ProvingSubmissions: method([Miner, Limit], async (miner, limit) => {
      const m = d.miners.get(miner);
      const rows = await d.db
        .selectFrom('post_submissions')
        .selectAll()
        .where('miner', '=', m.config.id)
        .orderBy('period_start', 'desc')
        .orderBy('deadline', 'desc')
        .limit(limit ?? 20)
        .execute();
      return rows.map((r) => {
        const detail = SubmissionDetail.parse(JSON.parse(r.partitions));
        return {
          PeriodStart: Number(r.period_start),
          Deadline: r.deadline,
          State: r.state,
          Attempts: r.attempts,
          Partitions: detail.partitions,
          Skipped: detail.skipped.map((s) => s.number),
          Recovering: detail.recovering,
          Message: r.cid,
          ExitCode: r.exit_code,
          Error: r.error,
        };
      });
    }),
    ProvingCheck: method([SectorID], async (id) => {
      const m = d.miners.get(id.Miner);
      const files = await d.files.check(id.Miner, id.Number);
      const info = await d.lotus.stateSectorGetInfo(m.address, id.Number);
      const where = info ? await d.lotus.stateSectorPartition(m.address, id.Number) : null;
      const faulty = where ? fromRunsJson(await d.lotus.stateMinerFaults(m.address)).includes(id.Number) : false;
      return {
        Sector: sectorKey(id),
        OnChain: info !== null,
        Deadline: where?.Deadline ?? null,
        Partition: where?.Partition ?? null,
        Expiration: info?.Expiration ?? null,
        Faulty: faulty,
        Provable: files.ok,
        Reason: files.ok ? null : files.reason,
        Sealed: files.ok ? files.sealed : null,
        Cache: files.ok ? files.cache : null,
      };
    }),
    SectorsExtend: method(
      [Extend],
      async (req) => {
        const { miner, at } = await locate(req.Sectors);
        const target = (a: (typeof at)[number]): number => req.To ?? a.expiration + (req.By as number) * EPOCHS_PER_DAY;
        for (const a of at) {
          if (target(a) <= a.expiration) throw appError(`sector ${sectorKey({ Miner: miner.config.id, Number: a.number })} expires at epoch ${a.expiration}: --to ${target(a)} would not extend it`);
        }
        const extensions = group(at, (a) => String(target(a))).map((e) => ({ deadline: e.deadline, partition: e.partition, sectors: e.sectors, sectorsWithClaims: [], newExpiration: Number(e.key) }));
        const cid = await d.messages.send(miner, MinerMethod.ExtendSectorExpiration2, encodeExtendSectorExpiration2({ extensions }), 'ExpirationExtended', at.map((a) => ({ number: a.number, desc: `from epoch ${a.expiration} to ${target(a)}` })));
        return { Cid: cid, Sectors: at.map((a) => ({ Sector: sectorKey({ Miner: miner.config.id, Number: a.number }), From: a.expiration, To: target(a) })) };
      },
      'admin',
    ),
    SectorsTerminate: method(
      [Sectors],
      async (sectors) => {
        const { miner, at } = await locate(sectors);
        // The actor refuses terminations in the deadline being proven and the next one (immutable deadlines).
        const dl = await d.lotus.stateMinerProvingDeadline(miner.address);
        for (const a of at) {
          const opens = deadlineOpen(dl, a.deadline).open;
          if (dl.CurrentEpoch + 1 >= opens - dl.WPoStChallengeWindow) {
            const id = sectorKey({ Miner: miner.config.id, Number: a.number });
            throw appError(`sector ${id} is in deadline ${a.deadline}, which is being proven or is next (it opens at epoch ${opens}, head ${dl.CurrentEpoch}): try again after epoch ${opens + dl.WPoStChallengeWindow}`);
          }
        }
        const terminations = group(at).map(({ deadline, partition, sectors: numbers }) => ({ deadline, partition, sectors: numbers }));
        const cid = await d.messages.send(miner, MinerMethod.TerminateSectors, encodeTerminateSectors({ terminations }), 'Terminated', at.map((a) => ({ number: a.number, desc: `in deadline ${a.deadline} partition ${a.partition}` })));
        return { Cid: cid, Sectors: at.map((a) => sectorKey({ Miner: miner.config.id, Number: a.number })) };
      },
      'admin',
    ),
    /** Sealed sectors of this manager no longer active on chain: expired, or terminated. */
    SectorsExpired: method([Miner], async (miner) => {
      const head = (await d.lotus.chainHead()).Height;
      return (await records(miner)).filter((r) => r.expiration === null || r.expiration <= head).map((r) => ({ Sector: sectorKey({ Miner: miner, Number: r.number }), Expiration: r.expiration }));
    }),
    /** Active sectors expiring within `within` epochs of the head, soonest first. */
    SectorsCheckExpire: method([Miner, Within], async (miner, within) => {
      const head = (await d.lotus.chainHead()).Height;
      return (await records(miner))
        .filter((r): r is { number: number; expiration: number } => r.expiration !== null && r.expiration > head && r.expiration - head <= within)
        .sort((a, b) => a.expiration - b.expiration)
        .map((r) => ({ Sector: sectorKey({ Miner: miner, Number: r.number }), Expiration: r.expiration, EpochsLeft: r.expiration - head }));
    }),
  };
  return Object.fromEntries(Object.entries(table).map(([name, def]) => [`SealFleet.${name}`, def]));
}
