import { z } from 'zod';
import { abort, permanent, SealingError, temporary } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { RpcClient, type RpcAgents } from '../core/rpc/client.js';
import { RpcError } from '../core/rpc/errors.js';
import { truncateMiddle } from '../core/wire/bounds.js';

import {
  SECTOR_STATE_NOT_FOUND,
  type AllocatedSector,
  type AllocatedSnapUpSector,
  type PollStateResp,
  type SectorID,
  type SectorPieceV2,
  type SectorRebuildInfo,
  type SectorStateResp,
  type StoreBasicInfo,
  type SubmitResp,
  type Ticket,
  type WaitSeedResp,
  type WorkerInfo,
} from '../core/wire/sealer.js';
import { SectorEnded } from '../core/wire/sectorEnded.js';
import { MAX_JOBS_PER_CALL, WDPOST_JOB_NOT_HELD, WdPoStInput, WdPoStJobId, type WdPoStAllocateSpec, type WdPoStJob, type WdPoStOutput } from '../core/wire/wdpost.js';

const WdPoStJobs = z.array(z.object({ ID: WdPoStJobId, Input: WdPoStInput })).max(MAX_JOBS_PER_CALL);

/** The cause of the error a call about a sector the manager has no record of gets. */
class UnknownSector extends Error {
  constructor() {
    super('the manager has no record of this sector');
  }
}

/** A manager's base URL from its sealer API URL: what operators configure and see in logs. */
const baseOf = (rpcUrl: string): string => rpcUrl.replace(/\/rpc\/v0\/?$/, '');

export interface AllocationSpec {
  AllowedMiners: number[] | null;
  AllowedProofTypes: number[] | null;
}

/**
 * The sealer API as the worker calls it. Errors come back as sealing errors: "sector state not found" for
 * a sector the manager ended on purpose (it says so in the error's data) drops the sector (abort); for a
 * sector the manager has no record of, it pauses the thread (permanent) and keeps the sector and its files:
 * a manager that lost its database must not make every worker throw its work away. Anything else may
 * pass (temporary).
 */
export class ManagerClient {
  readonly rpc: RpcClient;

  /**
   * `urls`: the sealer API of every manager of the cluster (`[sector_manager] rpc_client.addr`); calls fail
   * over between them (see RpcClient), which is safe because they share one database and the worker retries
   * every call after a temporary error anyway. `log` gets one warning per switch. `agents`: connection pools
   * of this client's own instead of the process's shared one (the simulated fleet gives each worker its own).
   */
  constructor(
    urls: string | readonly string[],
    token: string | null,
    headers: Readonly<Record<string, string>> = {},
    log?: Logger,
    agents?: RpcAgents,
  ) {
    this.rpc = new RpcClient({
      url: urls,
      token: token ?? undefined,
      headers,
      timeoutMs: 60_000,
      ...(agents ? { agents } : {}),
      onSwitch: ({ from, to, why }) => log?.warn({ from: baseOf(from), to: baseOf(to), why }, `manager ${baseOf(from)} unreachable (${why}); using ${baseOf(to)}`),
    });
  }

  private async call<T>(method: string, params: unknown[]): Promise<T> {
    try {
      return await this.rpc.call<T>(`Venus.${method}`, params);
    } catch (err) {
      if (err instanceof RpcError && err.code === SECTOR_STATE_NOT_FOUND) {
        if (SectorEnded.safeParse(err.data).success) throw abort(`manager: ${err.message}`, err);
        throw permanent(
          `manager ${method}: ${err.message}. The sector and its files are kept: check the manager's database (manager.db restored, replaced or started anew?); ` +
            'to drop the sector instead, resume this thread in state Aborted',
          new UnknownSector(),
        );
      }
      throw temporary(`manager ${method}: ${(err as Error).message}`, err);
    }
  }

  /** Base URL of the current manager (for the piece store). */
  get base(): string {
    return baseOf(this.rpc.url);
  }

  allocateSector = (spec: AllocationSpec) => this.call<AllocatedSector | null>('AllocateSector', [spec]);
  acquireDeals = (id: SectorID, spec: { MaxDeals: number | null; MinUsedSpace: number | null }) => this.call<SectorPieceV2[] | null>('AcquireDeals', [id, spec]);
  assignTicket = (id: SectorID) => this.call<Ticket>('AssignTicket', [id]);
  submitPreCommit = (sector: AllocatedSector, info: { CommR: number[]; CommD: number[]; Ticket: Ticket }, reset: boolean) => this.call<SubmitResp>('SubmitPreCommit', [sector, info, reset]);
  pollPreCommitState = (id: SectorID) => this.call<PollStateResp>('PollPreCommitState', [id]);
  submitPersistedEx = (id: SectorID, instance: string, isUpgrade: boolean) => this.call<boolean>('SubmitPersistedEx', [id, instance, isUpgrade]);
  waitSeed = (id: SectorID, proofType: number) => this.call<WaitSeedResp>('WaitSeed', [id, proofType]);
  submitProof = (id: SectorID, proof: string, reset: boolean) => this.call<SubmitResp>('SubmitProof', [id, { Proof: proof }, reset]);
  pollProofState = (id: SectorID) => this.call<PollStateResp>('PollProofState', [id]);
  // Error texts are cut to the manager's bound here: one that is too long would be refused on every retry,
  // and the sector would never get past its report.
  reportState = (id: SectorID, req: { Worker: { Instance: string; Location: string }; StateChange: { Prev: string; Next: string; Event: string }; Failure: { Level: string; Desc: string } | null }) =>
    this.call<SectorStateResp>('ReportState', [id, req.Failure ? { ...req, Failure: { ...req.Failure, Desc: truncateMiddle(req.Failure.Desc) } } : req]);
  reportFinalized = (id: SectorID) => this.call<null>('ReportFinalized', [id]);
  /** A manager with no record of the sector has nothing to mark aborted: the worker drops its copy either way. */
  reportAborted = (id: SectorID, reason: string) =>
    this.call<null>('ReportAborted', [id, truncateMiddle(reason)]).catch((err: unknown) => {
      if (err instanceof SealingError && err.cause instanceof UnknownSector) return null;
      throw err;
    });
  allocateSnapUp = (spec: AllocationSpec, deals: { MaxDeals: number | null; MinUsedSpace: number | null }) => this.call<AllocatedSnapUpSector | null>('AllocateSanpUpSector', [{ Sector: spec, Deals: deals }]);
  submitSnapUpProof = (id: SectorID, info: { CommR: number[]; CommD: number[]; AccessInstance: string; Pieces: { '/': string }[]; Proof: string }) => this.call<SubmitResp>('SubmitSnapUpProof', [id, info]);
  allocateRebuild = (spec: AllocationSpec) => this.call<SectorRebuildInfo | null>('AllocateRebuildSector', [spec]);
  reserveSpace = (id: SectorID, size: number, candidates: string[]) => this.call<StoreBasicInfo | null>('StoreReserveSpace', [id, size, candidates]);
  storeInfo = (name: string) => this.call<StoreBasicInfo | null>('StoreBasicInfo', [name]);
  ping = (info: WorkerInfo) => this.call<null>('WorkerPing', [info]);

  /** A job is checked like any other input from the wire: its fields become file paths and processor tasks. */
  async wdPoStAllocateJobs(spec: WdPoStAllocateSpec, num: number, worker: string): Promise<WdPoStJob[]> {
    const answer = await this.call<unknown>('WdPoStAllocateJobs', [spec, num, worker]);
    const parsed = WdPoStJobs.safeParse(answer ?? []);
    if (!parsed.success) throw permanent(`manager WdPoStAllocateJobs: unexpected answer: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  wdPoStHeartbeatJobs = (ids: string[], worker: string) => this.call<null>('WdPoStHeartbeatJobs', [ids, worker]);

  /** A job this worker no longer holds (timed out, taken by another) is dropped: the manager has moved on. */
  async wdPoStFinishJob(id: string, output: WdPoStOutput | null, errorReason: string, worker: string): Promise<void> {
    try {
      await this.call<null>('WdPoStFinishJob', [id, output, truncateMiddle(errorReason), worker]);
    } catch (err) {
      const cause = err instanceof SealingError ? err.cause : undefined;
      if (cause instanceof RpcError && cause.code === WDPOST_JOB_NOT_HELD) throw abort(`manager: ${cause.message}`, cause);
      throw err;
    }
  }
}

