import { isAbsolute, normalize } from 'node:path';
import { z } from 'zod';
import { RpcError, RPC_CODES } from '../../core/rpc/errors.js';
import { method, type MethodDef } from '../../core/rpc/server.js';
import type { SectorEvent } from '../../core/wire/dashboard.js';
import { SectorID } from '../../core/wire/sealer.js';
import { labelString, nameString, pathString, textString } from '../../core/wire/bounds.js';
import type { PieceQueue } from '../deals/pieces.js';
import { SECTOR_STATUSES, type SectorPlan, type SectorStage, type SectorStatus } from '../sectors/lifecycle.js';
import { isOrphanRelease, sectorKey, type SectorEventRow, type SectorRecord, type SectorStore } from '../sectors/store.js';
import type { WorkerRegistry } from '../workers/registry.js';
import type { Miners } from '../commitment/miners.js';

/** One sector as the operator's `sectors list` shows it. */
export interface SectorSummary {
  Sector: string;
  Miner: number;
  Number: number;
  Status: SectorStatus;
  Plan: SectorPlan;
  /** Where the sector is in its plan's lifecycle (sectors/lifecycle.ts). */
  Stage: SectorStage;
  State: string | null;
  Worker: string | null;
  Location: string | null;
  CreatedAt: number;
  UpdatedAt: number;
  AbortReason: string | null;
  AbortRequested: string | null;
  /** Released by the orphan sweep: allocated, but no worker ever reported on it (AbortReason says more). */
  Orphaned: boolean;
}

export interface SectorDetail extends SectorSummary {
  ProofType: number;
  Pieces: unknown[];
  Ticket: unknown;
  PreCommit: unknown;
  PreCommitMessage: string | null;
  Seed: unknown;
  ProveMessage: string | null;
  PersistInstance: string | null;
  Upgrade: unknown;
  UpgradeMessage: string | null;
}

export type { SectorEvent };

export function summary(r: SectorRecord): SectorSummary {
  return {
    Sector: sectorKey({ Miner: Number(r.miner), Number: Number(r.number) }),
    Miner: Number(r.miner),
    Number: Number(r.number),
    Status: r.status,
    Plan: r.plan,
    Stage: r.stage,
    State: r.latest_state,
    Worker: r.worker_instance,
    Location: r.worker_location,
    CreatedAt: Number(r.created_at),
    UpdatedAt: Number(r.updated_at),
    AbortReason: r.abort_reason,
    AbortRequested: r.abort_request,
    Orphaned: isOrphanRelease(r),
  };
}

export const event = (e: SectorEventRow): SectorEvent => ({
  At: Number(e.at),
  Worker: e.worker_instance,
  Location: e.worker_location,
  Prev: e.prev,
  Next: e.next,
  Event: e.event,
  FailureLevel: e.failure_level,
  FailureDesc: e.failure_desc,
});

/** The whole record as `SectorState` answers it, with the CIDs of its messages. */
export async function sectorDetail(r: SectorRecord, messageCid: (id: string | null) => Promise<string | null>): Promise<SectorDetail> {
  return {
    ...summary(r),
    ProofType: r.proof_type,
    Pieces: r.pieces ?? [],
    Ticket: r.ticket,
    PreCommit: r.pre,
    PreCommitMessage: await messageCid(r.pre_message),
    Seed: r.seed,
    ProveMessage: await messageCid(r.prove_message),
    PersistInstance: r.persist_instance,
    Upgrade: r.upgrade,
    UpgradeMessage: await messageCid(r.upgrade_message),
  };
}

/**
 * Lists answer at most LIST_MAX rows a call (LIST_DEFAULT unless asked), so one call's work and reply
 * stay bounded however large the cluster grows; `Offset` pages on.
 */
export const LIST_DEFAULT = 1000;
export const LIST_MAX = 10_000;
const Page = {
  Limit: z.number().int().min(1).max(LIST_MAX).optional(),
  Offset: z.number().int().nonnegative().optional(),
};
const PageParam = z.object(Page).optional();
const page = (p: { Limit?: number | undefined; Offset?: number | undefined } | undefined) => ({ limit: p?.Limit ?? LIST_DEFAULT, offset: p?.Offset ?? 0 });
/** SectorLog's optional second param: how many of the latest events (default LIST_DEFAULT). */
const LogLimit = z.number().int().min(1).max(LIST_MAX).optional();

const ListFilter = z.object({
  Status: z.enum(SECTOR_STATUSES).optional(),
  Miner: z.number().int().nonnegative().optional(),
  State: labelString.optional(),
  ...Page,
});

/** A path the manager opens for the operator: absolute and normalized, so it says plainly which file it is. */
const importPath = pathString.refine(isAbsolute, 'expected an absolute path').refine((p) => p === normalize(p), 'expected a normalized path (no "." or ".." segments, no doubled "/")');

/** The operator API behind `sealfleet-manager util …` (`SealFleet.*`): reads need `read`, actions `admin`. */
export function adminMethods(d: {
  records: SectorStore;
  workers: WorkerRegistry;
  pieces: PieceQueue;
  miners: Miners;
  messageCid: (id: string | null) => Promise<string | null>;
}): Record<string, MethodDef> {
  const table: Record<string, MethodDef> = {
    SectorsList: method([ListFilter.optional()], async (f) => {
      const rows = await d.records.list({ ...(f?.Status ? { status: f.Status } : {}), ...(f?.Miner !== undefined ? { miner: f.Miner } : {}), ...(f?.State ? { state: f.State } : {}), ...page(f) });
      return rows.map(summary);
    }),
    SectorState: method([SectorID], async (id) => sectorDetail(await d.records.require(id), d.messageCid)),
    SectorLog: method([SectorID, LogLimit], async (id, limit) => {
      await d.records.require(id);
      return (await d.records.events(id, limit ?? LIST_DEFAULT)).map(event);
    }),
    SectorAbort: method(
      [SectorID, textString.min(1, 'expected a reason')],
      async (id, reason) => {
        const r = await d.records.require(id);
        if (r.status !== 'sealing') throw new RpcError(RPC_CODES.Application, `sector ${sectorKey(id)} is ${r.status}; only a sector being sealed can be aborted`);
        return summary(await d.records.requestAbort(id, reason));
      },
      'admin',
    ),
    SectorRebuild: method(
      [SectorID],
      async (id) => {
        const r = await d.records.require(id);
        if (r.status !== 'finalized') throw new RpcError(RPC_CODES.Application, `sector ${sectorKey(id)} is ${r.status}; only a finalized sector can be rebuilt`);
        return summary(await d.records.requestRebuild(id));
      },
      'admin',
    ),
    WorkerList: method([PageParam], async (p) =>
      (await d.workers.list(page(p))).map((w) => ({ Name: w.name, Dest: w.dest, Version: w.version, Summary: JSON.parse(w.summary) as unknown, LastPing: Number(w.last_ping) })),
    ),
    WorkerFind: method([nameString], async (nameOrDest) => {
      const w = await d.workers.find(nameOrDest);
      return w ? { Name: w.name, Dest: w.dest, LastPing: Number(w.last_ping) } : null;
    }),
    WorkerForget: method([z.string().min(1)], (name) => d.workers.forget(name), 'admin'),
    DealsImport: method(
      [importPath, z.number().int().nonnegative().nullable()],
      async (path, miner) => {
        try {
          const sizes = (miner === null ? d.miners.all() : [d.miners.get(miner)]).map((m) => m.sectorSize);
          if (sizes.length === 0) throw new Error('no miner is configured to seal pieces');
          const p = await d.pieces.import(path, miner, Math.max(...sizes));
          return { PieceCID: p.cid, PaddedSize: Number(p.padded_size), PayloadSize: Number(p.payload_size), Status: p.status, CommitmentBy: d.pieces.hashing.name };
        } catch (err) {
          throw new RpcError(RPC_CODES.Application, (err as Error).message);
        }
      },
      'admin',
    ),
    PiecesList: method([PageParam], async (p) =>
      (await d.pieces.list(page(p))).map((p) => ({ PieceCID: p.cid, Miner: p.miner, PaddedSize: Number(p.padded_size), PayloadSize: Number(p.payload_size), Status: p.status, Sector: p.sector_miner === null ? null : sectorKey({ Miner: Number(p.sector_miner), Number: Number(p.sector_number) }) })),
    ),
  };
  return Object.fromEntries(Object.entries(table).map(([name, def]) => [`SealFleet.${name}`, def]));
}
