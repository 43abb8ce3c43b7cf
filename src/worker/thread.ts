import { rm } from 'node:fs/promises';
import type { Logger } from '../core/log.js';
import { describeError, failureLevelOf, SealingError, type FailureLevel } from '../core/errors.js';
import { getPlan, isPlanState, isState, nextState, planStates, stageOf, type EventName, type Plan, type PlanName, type State } from '../core/plans/index.js';
import { formatSectorId } from '../core/sectorId.js';
import type { ThreadEvent, WorkerThreadInfo } from '../core/wire/workerControl.js';
import type { AttachedStores } from './attachedStores.js';
import { threadHome, type ThreadConfig } from './config.js';
import { HANDLERS } from './handlers.js';
import type { ManagerClient } from './managerClient.js';
import { sectorPaths } from './paths.js';
import type { Processors } from './processors/types.js';
import type { Stage } from '../core/wire/processor.js';
import type { StepContext, StepResult } from './steps/context.js';
import { LocationStore, type ThreadFlags } from './store.js';
import { emptyTask, type SectorTask } from './task.js';

/** What a thread of `plan` holds, in the words of its messages and log lines. */
function holding(plan: PlanName): { what: string; short: 'job' | 'sector'; atManager: string } {
  switch (plan) {
    case 'wdpost':
      return { what: 'WindowPoSt job', short: 'job', atManager: 'running' };
    case 'sealer':
    case 'snapup':
    case 'rebuild':
      return { what: 'sector', short: 'sector', atManager: 'sealing' };
    default: {
      const unhandled: never = plan;
      throw new Error(`unknown plan ${String(unhandled)}`);
    }
  }
}

/** Thrown out of a wait when the thread is asked to pause or stop: not a failure. */
class Interrupted extends Error {}

const BACKOFF_CAP_MS = 30 * 60_000;
/** Longest wait between two tries of a report the manager did not take: it goes as soon as one is back. */
const REPORT_RETRY_CAP_MS = 5_000;

/** States that come before PreCommit submission in the sealer plan: resuming into one re-submits with reset. */
export const BEFORE_PRECOMMIT: readonly State[] = ['Allocated', 'DealsAcquired', 'PieceAdded', 'TreeDBuilt', 'TicketAssigned', 'PC1Done', 'PC2Done'];

/**
 * Told of each step that ends in a transition, of each failure and retry, and of the time each processor
 * task took (the worker's metrics). `stage` is the stage `worker list` shows for the state the step ran in.
 */
export interface ThreadObserver {
  step(plan: PlanName, stage: string, seconds: number): void;
  failure(plan: PlanName, stage: string, level: FailureLevel): void;
  /** A temporary failure the thread retries after its backoff (one that pauses it is not a retry). */
  retry(plan: PlanName, stage: string): void;
  processor(stage: Stage, seconds: number): void;
}

export interface ThreadDeps {
  manager: ManagerClient;
  processors: Processors;
  instance: string;
  attached: AttachedStores;
  /** `local_pieces_dirs`, searched for deal pieces before the manager's piece store. */
  pieceDirs: readonly string[];
  log: Logger;
  observer?: ThreadObserver;
}

/**
 * One sealing thread: drives one sector at a time through its plan. Each step's result is persisted (with
 * an event row) before the next step starts and reported to the manager after; a restarted daemon picks
 * the thread up in its persisted state and re-runs that state's step, which is safe to run twice.
 */
export class SealingThread {
  readonly plan: Plan;
  private task: SectorTask;
  private flags: ThreadFlags;
  private readonly store: LocationStore;
  private retries = 0;
  private activity: { state: 'Running' | 'Waiting' | 'Idle'; since: number; what: string | null } = { state: 'Idle', since: Date.now(), what: null };
  private pauseRequested = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private readonly log: Logger;
  /** When the sector (or the empty thread) entered its current state (wall clock). */
  private stateSince: number;

  /** The location of a sector plan's thread; null on a wdpost thread, which keeps nothing on disk. */
  private readonly home: string | null;

  constructor(
    readonly config: ThreadConfig,
    private readonly deps: ThreadDeps,
  ) {
    this.plan = getPlan(config.plan);
    this.home = threadHome(config);
    this.store = new LocationStore(this.home);
    const stored = this.store.loadTask();
    this.task = stored && stored.plan === config.plan ? stored : emptyTask(config.plan);
    if (stored && stored.plan !== config.plan && stored.state !== 'Empty') {
      throw new Error(`thread #${config.index} at ${config.location} holds a ${stored.plan} sector in state ${stored.state}, but is configured with plan ${config.plan}`);
    }
    this.flags = this.store.loadFlags();
    const state = this.task.state;
    // A restarted thread's sector has been in its state since the event that moved it there, not since now.
    this.stateSince = [...this.store.recent(100)].reverse().find((e) => e.to === state && e.from !== state)?.at ?? Date.now();
    this.log = deps.log.child({ thread: config.index });
    for (const t of this.store.tightened) this.log.warn({ file: t.path, oldMode: t.oldMode }, `${t.path} was open to other users (mode ${t.oldMode}): made private`);
  }

  get index(): number {
    return this.config.index;
  }

  start(): void {
    this.reportLastMove();
    this.loop = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'sealing thread crashed');
    });
  }

  /**
   * Stops taking new steps. A step still running after `graceMs` is left to die with the process: its
   * state was persisted before it began, so the restarted daemon runs it again.
   */
  async stop(graceMs = 3000): Promise<void> {
    this.stopped = true;
    this.wake?.();
    const finished = await Promise.race([this.loop?.then(() => true) ?? true, new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
    if (finished) this.store.close();
  }

  /** The sector the thread works on, or the WindowPoSt job of a wdpost thread. */
  private get jobName(): string | null {
    return this.task.sector ? formatSectorId(this.task.sector) : (this.task.wdpost?.job.ID ?? null);
  }

  info(): WorkerThreadInfo {
    const elapsed = (since: number) => Math.floor((Date.now() - since) / 1000);
    const thread_state = this.flags.paused
      ? { state: 'Paused' as const, elapsed: elapsed(this.flags.pausedAt ?? Date.now()) }
      : this.activity.state === 'Idle'
        ? { state: 'Idle' as const }
        : { state: this.activity.state, elapsed: elapsed(this.activity.since), proc: this.activity.what };
    return {
      location: this.config.location ?? '',
      plan: this.plan.name,
      job_id: this.jobName,
      index: this.index,
      thread_state,
      job_state: this.task.state === 'Empty' && this.jobName === null ? '' : this.task.state,
      job_stage: this.task.state === 'Empty' && this.flags.draining ? 'Drained' : stageOf(this.plan, this.task.state),
      last_error: this.flags.lastError,
      draining: this.flags.draining,
    };
  }

  /** Seconds the thread's sector has been in its current state. */
  stateAge(): number {
    return (Date.now() - this.stateSince) / 1000;
  }

  history(limit: number): ThreadEvent[] {
    return this.store.recent(limit);
  }

  isPaused(): boolean {
    return this.flags.paused;
  }

  pause(): boolean {
    if (this.flags.paused) return false;
    this.pauseRequested = true;
    this.wake?.();
    return true;
  }

  /** Resumes a paused thread, optionally moving its sector to `state` first (validated against the plan). */
  resume(state: string | null): void {
    if (!this.flags.paused) throw new Error(`thread #${this.index} is not paused: only a paused thread can be resumed`);
    if (state !== null) {
      if (!isPlanState(this.plan, state)) {
        throw new Error(`"${state}" is not a state of the ${this.plan.name} plan; valid states: ${planStates(this.plan).join(', ')}`);
      }
      const held = this.jobName;
      const { what, atManager } = holding(this.plan.name);
      if (held === null && state !== 'Empty') throw new Error(`thread #${this.index} has no ${what} to move to ${state}`);
      // Empty would take new work and forget this one, which the manager would go on waiting for.
      if (held !== null && state === 'Empty') {
        throw new Error(`thread #${this.index} holds ${what} ${held}: resuming in Empty would leave it ${atManager} at the manager; resume in Aborted to drop it`);
      }
      this.setState(state);
    }
    this.setFlags({ ...this.flags, paused: false, pausedAt: null, lastError: null });
    this.retries = 0;
    this.wake?.();
  }

  drain(): void {
    this.setFlags({ ...this.flags, draining: true });
    if (this.task.state === 'Empty') this.wake?.();
  }

  /** The operator's move (resume --state): recorded as a `SetState` event. */
  private setState(state: State): void {
    const from = this.task.state;
    const patch: Partial<SectorTask> = { state };
    if (state === 'Aborted') patch.abortReason = 'aborted by the operator (resume --state Aborted)';
    if (this.plan.name === 'sealer' && BEFORE_PRECOMMIT.includes(state) && this.task.commR !== null) patch.preResubmit = true;
    this.saveTask({ ...this.task, ...patch }, { ...this.stamp(), sector: this.jobName, from, event: 'SetState', to: state, level: null, error: null });
    this.stateSince = Date.now();
    this.log.info({ sector: this.jobName, from, to: state }, 'state set by the operator');
    void this.report(from, state, 'SetState', null);
  }

  private setActivity(state: 'Running' | 'Waiting' | 'Idle', what: string | null): void {
    this.activity = { state, since: Date.now(), what };
  }

  /** Sleeps up to `ms`; returns early (throwing Interrupted) when a pause or stop arrives. */
  private async sleep(ms: number, interruptible = true): Promise<void> {
    const interrupted = () => this.stopped || (interruptible && (this.pauseRequested || (this.flags.draining && this.task.state === 'Empty')));
    if (interrupted()) throw new Interrupted();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = null;
    if (interrupted()) throw new Interrupted();
  }

  /** Flags change only once they are on disk: a failed write (a full disk) leaves the thread as it was. */
  private setFlags(flags: ThreadFlags): void {
    this.store.saveFlags(flags);
    this.flags = flags;
  }

  /**
   * The task changes only once it and its event are on disk, so the thread never runs ahead of what a restart
   * would resume from, nor reports a move its own log lacks.
   */
  private saveTask(task: SectorTask, event?: Parameters<LocationStore['save']>[1]): void {
    this.store.save(task, event);
    this.task = task;
  }

  /**
   * Pauses with `error` for the operator. Never throws: when the pause cannot be written (a full disk), the
   * thread still pauses in this process, with the write's error added, rather than dying silently.
   */
  private enterPause(error: string | null): void {
    this.pauseRequested = false;
    const flags = { ...this.flags, paused: true, pausedAt: Date.now(), lastError: error };
    try {
      this.store.saveFlags(flags);
      this.flags = flags;
    } catch (err) {
      this.flags = { ...flags, lastError: `${error ?? 'paused'}; the pause is not persisted: ${describeError(err)}` };
    }
    this.setActivity('Idle', null);
    this.log.warn({ sector: this.jobName, state: this.task.state, error: this.flags.lastError }, 'thread paused');
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.pauseRequested && !this.flags.paused) this.enterPause(null);
      if (this.flags.paused) {
        await this.sleep(60_000, false).catch(() => undefined);
        continue;
      }
      try {
        this.applyDrop();
        if (this.task.state === 'Finished' || this.task.state === 'Aborted') {
          await this.finish();
          continue;
        }
        if (this.task.state === 'Empty' && this.flags.draining) {
          this.setActivity('Idle', 'drained');
          await this.sleep(60_000, false);
          continue;
        }
        await this.step();
      } catch (err) {
        if (err instanceof Interrupted) continue;
        // A step cut short by the worker's own stop (its processors closed) is no failure: the state it
        // started from is persisted, and the restarted daemon runs it again.
        if (this.stopped) {
          this.log.debug({ sector: this.jobName, state: this.task.state, err: describeError(err) }, 'step interrupted by the stop');
          continue;
        }
        try {
          await this.fail(err);
        } catch (failed) {
          if (failed instanceof Interrupted) continue;
          // Handling the failure failed too (say the disk is full): the operator must see it, not a thread
          // that looks busy forever.
          this.enterPause(`${describeError(failed)} (while handling: ${describeError(err)})`);
        }
      }
    }
  }

  private context(): StepContext {
    const processors = this.deps.processors;
    return {
      task: this.task,
      plan: this.plan,
      sealing: this.config.sealing,
      location: this.home,
      instance: this.deps.instance,
      manager: this.deps.manager,
      processors: {
        run: async (stage, task) => {
          const start = performance.now();
          try {
            return await processors.run(stage, task);
          } finally {
            const ms = performance.now() - start;
            this.processorMs += ms;
            this.deps.observer?.processor(stage, ms / 1000);
          }
        },
        staticTreeD: (sectorSize) => processors.staticTreeD(sectorSize),
      },
      attached: this.deps.attached,
      pieceDirs: this.deps.pieceDirs,
      log: this.log.child({ sector: this.jobName }),
      wait: async (ms, why) => {
        this.setActivity('Waiting', why);
        await this.sleep(ms);
        this.setActivity('Running', null);
      },
      running: (stage) => this.setActivity('Running', this.deps.processors.describe(stage as never)),
    };
  }

  private async step(): Promise<void> {
    const handler = HANDLERS[this.plan.name][this.task.state];
    if (!handler) throw new SealingError('Abort', `unexpected state ${this.task.state} in the ${this.plan.name} plan`);
    this.setActivity('Running', null);
    this.processorMs = 0;
    const started = performance.now();
    const result: StepResult = await handler(this.context());
    const from = this.task.state;
    this.deps.observer?.step(this.plan.name, stageOf(this.plan, from), (performance.now() - started) / 1000);
    this.apply(result.event, result.patch ?? {}, Math.round(this.processorMs * 100) / 100);
    this.retries = 0;
    void this.report(from, this.task.state, result.event, null);
  }

  /** Applies a step's event: the new state and the step's outputs are written in one transaction. */
  private apply(event: EventName, patch: Partial<SectorTask>, processorMs: number): void {
    const from = this.task.state;
    const to = nextState(this.plan, from, event);
    this.saveTask({ ...this.task, ...patch, state: to }, { ...this.stamp(), sector: this.jobName, from, event, to, level: null, error: null, processorMs });
    if (to !== from) this.stateSince = Date.now();
    this.log.info({ sector: this.jobName, from, event, to }, 'transition');
  }

  /**
   * Tells the manager, in order but without holding up the next step: a transition costs its step and
   * its durable write, not a round trip. An answer that the sector was dropped there (operator abort) is
   * acted on before the next step.
   */
  private report(prev: State, next: State, event: string, failure: { Level: FailureLevel; Desc: string } | null): Promise<void> {
    const sector = this.task.sector;
    const location = this.home;
    // A wdpost thread (no location) holds no sector: none of its moves belongs to the manager's sector lifecycle.
    if (!sector || location === null) return this.reports;
    const name = formatSectorId(sector);
    const send = async (): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const resp = await this.deps.manager.reportState(
            { Miner: sector.miner, Number: sector.number },
            { Worker: { Instance: this.deps.instance, Location: location }, StateChange: { Prev: prev, Next: next, Event: event }, Failure: failure },
          );
          if (resp.Finalized) this.dropped = { sector: name, reason: resp.AbortReason || 'finalized by the manager' };
          return;
        } catch (err) {
          const level = failureLevelOf(err);
          if (level === 'Abort') {
            this.dropped = { sector: name, reason: describeError(err) };
            return;
          }
          // A lost move would leave a hole in the manager's log of the sector (the next report starting where
          // this one ends): a move is sent again, before any later report, within the thread's retry budget
          // (beyond it the next step, which needs the manager too, fails and pauses). A lost failure report
          // leaves no hole.
          if (failure !== null || level !== 'Temporary' || this.stopped || attempt >= this.config.sealing.max_retries) {
            this.log.warn({ err: describeError(err) }, 'ReportState failed');
            return;
          }
          this.log.warn({ err: describeError(err), attempt }, 'ReportState failed; sending it again');
          await new Promise((r) => setTimeout(r, Math.min(REPORT_RETRY_CAP_MS, this.config.sealing.recover_interval * 2 ** attempt)));
        }
      }
    };
    this.reports = this.reports.then(send);
    return this.reports;
  }

  private reports: Promise<void> = Promise.resolve();

  /**
   * A report is sent after its move is persisted, so a daemon killed in between leaves the manager one move
   * short, and the next report would start where that one ends: a hole in the manager's log of the sector.
   * A restarted thread sends its sector's last move again first; a manager that had it recognises the move
   * its log already ends with and logs it once.
   */
  private reportLastMove(): void {
    if (this.task.sector === null || this.task.state === 'Empty') return;
    const last = [...this.store.recent(100)].reverse().find((e) => e.sector === this.jobName && e.event !== 'Retry' && e.from !== e.to);
    // The thread wrote these rows itself, from its plan's states.
    if (last && isState(last.from) && isState(last.to)) void this.report(last.from, last.to, last.event, null);
  }
  /** Time the current step has spent in processors so far: kept with its transition in the event log. */
  private processorMs = 0;
  /** When this thread last logged an event (monotonic clock); null until its first one in this process. */
  private lastEventMark: number | null = null;

  /**
   * The wall-clock time of an event, and how long since this thread's previous one (the step since then
   * and that event's durable write) on the monotonic clock, to the hundredth of a millisecond.
   */
  private stamp(): { at: number; tookMs: number | null } {
    const mark = performance.now();
    const tookMs = this.lastEventMark === null ? null : Math.round((mark - this.lastEventMark) * 100) / 100;
    this.lastEventMark = mark;
    return { at: Date.now(), tookMs };
  }
  /** Set by a ReportState answer: the manager no longer wants this sector sealed. */
  private dropped: { sector: string; reason: string } | null = null;

  /** Applies a drop the manager asked for, if it is about the current sector and it is still live. */
  private applyDrop(): void {
    const drop = this.dropped;
    this.dropped = null;
    if (drop && drop.sector === this.jobName && this.task.state !== 'Aborted' && this.task.state !== 'Finished') this.abortTask(drop.reason);
  }

  private abortTask(reason: string): void {
    const from = this.task.state;
    this.saveTask({ ...this.task, state: 'Aborted', abortReason: reason }, { ...this.stamp(), sector: this.jobName, from, event: 'Abort', to: 'Aborted', level: 'Abort', error: reason });
    this.stateSince = Date.now();
    this.log.warn({ sector: this.jobName, from, reason }, 'sector aborted');
  }

  private async fail(err: unknown): Promise<void> {
    const level = failureLevelOf(err);
    const desc = describeError(err);
    const state = this.task.state;
    const stage = stageOf(this.plan, state);
    this.deps.observer?.failure(this.plan.name, stage, level);
    try {
      this.store.append({ ...this.stamp(), sector: this.jobName, from: state, event: 'Retry', to: state, level, error: desc });
    } catch (err) {
      // The log row is lost (a full disk, say); the retry or pause below still happens, and the manager hears of it.
      this.log.warn({ sector: this.jobName, err: describeError(err) }, 'failure not written to the thread log');
    }
    await this.report(state, state, 'Failure', { Level: level, Desc: desc });
    this.applyDrop();
    // Dropped by the manager just now: go straight to the finish step. A failure of the finish step itself
    // (state already Aborted) backs off like any other, or it would retry in a hot loop.
    if (state !== 'Aborted' && this.task.state === 'Aborted') return;
    if (level === 'Abort') {
      this.abortTask(desc);
      return;
    }
    if (level === 'Temporary' && this.retries < this.config.sealing.max_retries) {
      const delay = Math.min(BACKOFF_CAP_MS, this.config.sealing.recover_interval * 2 ** this.retries) * (0.8 + Math.random() * 0.4);
      this.retries++;
      this.deps.observer?.retry(this.plan.name, stage);
      this.log.warn({ sector: this.jobName, state, retry: this.retries, delayMs: Math.round(delay), err: desc }, 'temporary failure; retrying');
      this.setActivity('Waiting', `retry ${this.retries}/${this.config.sealing.max_retries}`);
      await this.sleep(delay).catch((e: unknown) => {
        if (!(e instanceof Interrupted)) throw e;
      });
      return;
    }
    // A WindowPoSt job held past its retries only brings its deadline's close nearer: dropped, it goes back to
    // the manager, which retries it or proves the deadline itself (damocles does the same).
    if (level === 'Temporary' && this.plan.name === 'wdpost') {
      this.abortTask(`${desc} (after ${this.retries} retries)`);
      return;
    }
    this.enterPause(level === 'Temporary' ? `permanent: ${desc} (after ${this.retries} retries)` : `${level.toLowerCase()}: ${desc}`);
  }

  /** Finished or Aborted: tell the manager, remove the sector's local files, take the next sector (or job). */
  private async finish(): Promise<void> {
    await this.reports;
    const name = this.jobName;
    switch (this.plan.name) {
      case 'wdpost':
        await this.releaseJob();
        break;
      case 'sealer':
      case 'snapup':
      case 'rebuild':
        await this.finalizeSector();
        break;
      default: {
        const unhandled: never = this.plan.name;
        throw new Error(`no finish for plan ${String(unhandled)}`);
      }
    }
    const done = this.task.state;
    this.saveTask(emptyTask(this.plan.name));
    this.stateSince = Date.now();
    this.retries = 0;
    const { short } = holding(this.plan.name);
    this.log.info({ [short]: name, outcome: done }, `${short} done; next task`);
    if (done === 'Aborted') await this.sleep(this.config.sealing.seal_interval).catch(() => undefined);
  }

  private async finalizeSector(): Promise<void> {
    const sector = this.task.sector;
    if (!sector || this.home === null) return;
    const id = { Miner: sector.miner, Number: sector.number };
    this.setActivity('Running', 'finalize');
    try {
      if (this.task.state === 'Finished') await this.deps.manager.reportFinalized(id);
      else await this.deps.manager.reportAborted(id, this.task.abortReason ?? 'aborted');
    } catch (err) {
      // An aborted sector the manager no longer knows is gone either way.
      if (!(this.task.state === 'Aborted' && failureLevelOf(err) === 'Abort')) throw err;
    }
    await rm(sectorPaths(this.home, sector).data, { recursive: true, force: true });
  }

  /**
   * An aborted WindowPoSt job (by the operator, or past its retries) is handed back as failed, so the manager
   * retries it or proves the deadline now rather than after its heartbeat timeout. Best effort: that timeout
   * remains if the manager cannot be told (or has moved on already).
   */
  private async releaseJob(): Promise<void> {
    const held = this.task.wdpost;
    if (this.task.state !== 'Aborted' || !held) return;
    const reason = `aborted on the worker: ${this.task.abortReason ?? 'aborted'}`;
    await this.deps.manager.wdPoStFinishJob(held.job.ID, null, reason, this.deps.instance).catch((err: unknown) => {
      this.log.info({ job: held.job.ID, err: describeError(err) }, 'the manager was not told of the aborted job; its heartbeat timeout will tell it');
    });
  }
}
