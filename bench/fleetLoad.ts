import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { zeroCommitment } from '../src/core/commitment.js';
import { mockSealProof } from '../src/core/mockProof.js';
import { formatSectorId } from '../src/core/sectorId.js';
import { OnChainState, SubmitResult, type AllocatedSector, type PollStateResp, type SectorID } from '../src/core/wire/sealer.js';
import { ManagerClient } from '../src/worker/managerClient.js';
import { METHODS, REAL, standsFor, THREADS_PER_WORKER, type LoadJob, type LoadResult, type Method } from './fleetPlan.js';

/**
 * One load-generator process of the simulated fleet (forked by bench/fleet.ts with the job on IPC): its share
 * of the simulated threads, grouped 32 to a worker with one ManagerClient (the worker's own RPC client, with
 * a keep-alive pool of its own) and one ping loop per worker for the real workers it stands for, each thread
 * walking the sealer plan's calls with every wait divided by the scale.
 * Latencies are kept for the measured window only; the result goes back on IPC.
 */

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const jitter = (ms: number): number => ms * (0.9 + Math.random() * 0.2);
const COMM_D = Array.from(zeroCommitment(2048));
const FILE_TAIL = ['p_aux', 't_aux', 'sc-02-data-tree-r-last.dat'];
const RETRIES = 5;
/** How long calls started in the window may take to answer after it before they count as unanswered. */
const GRACE_MS = 30_000;

class Stopped extends Error {}

async function run(job: LoadJob): Promise<LoadResult> {
  const start = performance.now();
  const windowStart = start + job.warmupMs;
  const end = windowStart + job.durationMs;
  const ms = (realSeconds: number): number => (realSeconds * 1000) / job.scale;
  const latencies = Object.fromEntries(METHODS.map((m) => [m, [] as number[]])) as Record<Method, number[]>;
  const errors: Record<string, number> = {};
  let firstError: string | null = null;
  let allocated = 0;
  let finished = 0;
  let abandoned = 0;
  let served = 0;
  /** Calls started in the window and not answered yet: their latency is taken when they end, or at the cut-off. */
  const open = new Map<number, { method: Method; t: number }>();
  let nextCall = 0;
  const stopped = (): boolean => performance.now() >= end;
  /** A wait that ends early, by Stopped, when the run is over. */
  const wait = async (delay: number): Promise<void> => {
    await sleep(Math.min(delay, Math.max(0, end - performance.now())));
    if (stopped()) throw new Stopped();
  };

  /** Times one call; a failed call is retried after recover_interval as the worker does with temporary errors. */
  const timed = async <T>(method: Method, call: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      if (stopped()) throw new Stopped();
      const t = performance.now();
      const inWindow = t >= windowStart;
      const key = nextCall++;
      if (inWindow) open.set(key, { method, t });
      const done = (): void => {
        const now = performance.now();
        if (now >= windowStart && now < end) served++;
        if (inWindow && open.delete(key)) latencies[method].push(now - t);
      };
      try {
        const out = await call();
        done();
        return out;
      } catch (err) {
        done();
        if (inWindow) errors[method] = (errors[method] ?? 0) + 1;
        firstError ??= `${method}: ${(err as Error).message}`;
        if (attempt >= RETRIES) throw err;
        await wait(jitter(ms(REAL.recoverInterval)));
      }
    }
  };

  const workers = Math.ceil(job.threads / THREADS_PER_WORKER);
  const busy = new Array<number>(workers).fill(0);

  const thread = async (worker: number, client: ManagerClient, index: number): Promise<void> => {
    // The real worker the first of the real threads this one stands for belongs to.
    const instance = `fleet-w${Math.floor(((job.firstWorker * THREADS_PER_WORKER + index) * job.scale) / THREADS_PER_WORKER)}`;
    const location = `/fleet/t${index}`;
    // Threads start spread over the warm-up, so sectors are in every stage by the time measuring starts.
    await wait(Math.random() * job.warmupMs);
    for (;;) {
      let reports: Promise<unknown> = Promise.resolve();
      let id: SectorID | null = null;
      try {
        let sector: AllocatedSector | null = null;
        while (!sector) {
          sector = await timed('AllocateSector', () => client.allocateSector({ AllowedMiners: null, AllowedProofTypes: null }));
          if (!sector) await wait(jitter(ms(REAL.recoverInterval)));
        }
        allocated++;
        busy[worker] = (busy[worker] as number) + 1;
        const sid = sector.ID;
        id = sid;
        // One ReportState per transition, in order, off the step path (as src/worker/thread.ts sends them).
        const report = (Prev: string, Next: string, Event: string): void => {
          // A failed report is counted by `timed` and passed over, as the worker logs it and carries on.
          reports = reports.then(() => timed('ReportState', () => client.reportState(sid, { Worker: { Instance: instance, Location: location }, StateChange: { Prev, Next, Event }, Failure: null }))).catch(() => undefined);
        };
        report('Empty', 'Allocated', 'Allocate');
        await timed('AcquireDeals', () => client.acquireDeals(sid, { MaxDeals: null, MinUsedSpace: null }));
        report('Allocated', 'DealsAcquired', 'AcquireDeals');
        await wait(jitter(ms(REAL.stages.AddPiece)));
        report('DealsAcquired', 'PieceAdded', 'AddPiece');
        await wait(jitter(ms(REAL.stages.BuildTreeD)));
        report('PieceAdded', 'TreeDBuilt', 'BuildTreeD');
        const ticket = await timed('AssignTicket', () => client.assignTicket(sid));
        report('TreeDBuilt', 'TicketAssigned', 'AssignTicket');
        await wait(jitter(ms(REAL.stages.PC1)));
        report('TicketAssigned', 'PC1Done', 'PC1');
        await wait(jitter(ms(REAL.stages.PC2)));
        report('PC1Done', 'PC2Done', 'PC2');
        const commR = Array.from(randomBytes(32));
        commR[31] = (commR[31] as number) & 0x3f; // a field element, as a real CommR is
        const pre = await timed('SubmitPreCommit', () => client.submitPreCommit(sector, { CommR: commR, CommD: COMM_D, Ticket: ticket }, false));
        if (pre.Res !== SubmitResult.Accepted && pre.Res !== SubmitResult.DuplicateSubmit) throw new Error(`pre-commit not accepted: ${pre.Res} ${pre.Desc ?? ''}`);
        report('PC2Done', 'PCSubmitted', 'SubmitPC');
        await landed('PollPreCommitState', () => client.pollPreCommitState(sid));
        report('PCSubmitted', 'PCLanded', 'CheckPC');
        const store = await timed('StoreReserveSpace', () => client.reserveSpace(sid, 4096, ['local']));
        if (!store) throw new Error('no persist store has room');
        await wait(jitter(ms(REAL.stages.Persist)));
        await persistFiles(job.store, formatSectorId({ miner: sid.Miner, number: sid.Number }));
        report('PCLanded', 'Persisted', 'Persist');
        if (!(await timed('SubmitPersistedEx', () => client.submitPersistedEx(sid, store.Name, false)))) throw new Error('the manager did not find the persisted files');
        report('Persisted', 'PersistanceSubmitted', 'SubmitPersistance');
        let seed = null;
        while (!seed) {
          const r = await timed('WaitSeed', () => client.waitSeed(sid, sector.ProofType));
          seed = !r.ShouldWait && r.Seed ? r.Seed : null;
          // The manager's Delay counts seconds at ≥ 1 s per epoch: the wait is that many scaled epochs.
          if (!seed) await wait(Math.max(1, r.Delay) * ms(REAL.blockTime));
        }
        report('PersistanceSubmitted', 'SeedAssigned', 'AssignSeed');
        await wait(jitter(ms(REAL.stages.C1)));
        report('SeedAssigned', 'C1Done', 'C1');
        await wait(jitter(ms(REAL.stages.C2)));
        report('C1Done', 'C2Done', 'C2');
        const proof = mockSealProof({
          miner: sid.Miner,
          number: sid.Number,
          sealProof: sector.ProofType,
          commR: Uint8Array.from(commR),
          commD: Uint8Array.from(COMM_D),
          ticket: new Uint8Array(Buffer.from(ticket.Ticket, 'base64')),
          seed: new Uint8Array(Buffer.from(seed.Seed, 'base64')),
        });
        const sub = await timed('SubmitProof', () => client.submitProof(sid, Buffer.from(proof).toString('base64'), false));
        if (sub.Res !== SubmitResult.Accepted && sub.Res !== SubmitResult.DuplicateSubmit) throw new Error(`proof not accepted: ${sub.Res} ${sub.Desc ?? ''}`);
        report('C2Done', 'ProofSubmitted', 'SubmitProof');
        await landed('PollProofState', () => client.pollProofState(sid));
        report('ProofSubmitted', 'Finished', 'Finish');
        await reports;
        await timed('ReportFinalized', () => client.reportFinalized(sid));
        finished++;
      } catch (err) {
        if (err instanceof Stopped) return;
        abandoned++;
        if (id) {
          const sid = id;
          await reports;
          await client.reportAborted(sid, `simulated fleet: ${(err as Error).message}`).catch(() => undefined);
        }
        await wait(jitter(ms(REAL.recoverInterval))).catch(() => undefined);
        if (stopped()) return;
      } finally {
        if (id) busy[worker] = (busy[worker] as number) - 1;
      }
    }
  };

  /** Polls at rpc_polling_interval until the message lands. */
  const landed = async (method: 'PollPreCommitState' | 'PollProofState', poll: () => Promise<PollStateResp>): Promise<void> => {
    for (;;) {
      const s = await timed(method, poll);
      if (s.State === OnChainState.Landed) return;
      if (s.State !== OnChainState.Pending && s.State !== OnChainState.Packed) throw new Error(`${method}: state ${s.State} ${s.Desc ?? ''}`);
      await wait(jitter(ms(REAL.rpcPollingInterval)));
    }
  };

  const pinger = async (worker: number, client: ManagerClient, threads: number): Promise<void> => {
    const real = standsFor(job.firstWorker + worker, threads, job.scale);
    await wait(Math.random() * real.everyMs).catch(() => undefined);
    for (let ping = 0; !stopped(); ping++) {
      const name = `fleet-w${real.first + (ping % real.count)}`;
      // What one real worker of 32 threads reports, busy in the proportion of this simulated worker's threads.
      const running = Math.round(((busy[worker] as number) / threads) * THREADS_PER_WORKER);
      const summary = { Threads: THREADS_PER_WORKER, Empty: THREADS_PER_WORKER - running, Paused: 0, Running: running, Waiting: 0, Errors: 0 };
      await timed('WorkerPing', () => client.ping({ Name: name, Dest: '127.0.0.1:17890', Version: 'sealfleet-fleet-bench', Summary: summary })).catch(() => undefined);
      await wait(real.everyMs).catch(() => undefined);
    }
  };

  const all: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    const first = (job.firstWorker + w) % job.urls.length;
    // Each worker is its own process in a real fleet, with its own connections.
    const agents = { http: new Agent({ keepAlive: true, maxSockets: 64 }) };
    const client = new ManagerClient([...job.urls.slice(first), ...job.urls.slice(0, first)].map((u) => `${u}/rpc/v0`), job.token, {}, undefined, agents);
    const threads = Math.min(THREADS_PER_WORKER, job.threads - w * THREADS_PER_WORKER);
    all.push(pinger(w, client, threads));
    for (let t = 0; t < threads; t++) all.push(thread(w, client, w * THREADS_PER_WORKER + t));
  }

  await sleep(Math.max(0, windowStart - performance.now()));
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  await sleep(Math.max(0, end - performance.now()));
  const elu = performance.eventLoopUtilization(elu0).utilization;
  const cpu = process.cpuUsage(cpu0);
  const cpuCores = (cpu.user + cpu.system) / 1000 / job.durationMs;
  // Calls of the window still running count with the time they have taken when they answer, or at the
  // cut-off (a lower bound), so an overloaded manager's slowest calls are not left out of the p99.
  while (open.size && performance.now() < end + GRACE_MS) await sleep(100);
  const unanswered = open.size;
  for (const { method, t } of open.values()) latencies[method].push(performance.now() - t);
  return { latencies, errors, firstError, allocated, finished, abandoned, served, unanswered, elu, cpuCores };
}

/** The files SubmitPersistedEx looks for in the persist store: the sealed file and the cache's. */
async function persistFiles(store: string, name: string): Promise<void> {
  await mkdir(join(store, 'sealed'), { recursive: true });
  await writeFile(join(store, 'sealed', name), 'sealed');
  const cache = join(store, 'cache', name);
  await mkdir(cache, { recursive: true });
  for (const f of FILE_TAIL) await writeFile(join(cache, f), f);
}

process.once('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.(result, () => process.exit(0)),
    (err: unknown) => {
      console.error(`fleet load generator: ${(err as Error).stack ?? String(err)}`);
      process.exit(1);
    },
  );
});
process.send?.('ready');
