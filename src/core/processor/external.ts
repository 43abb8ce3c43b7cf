import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { permanent, temporary } from '../errors.js';
import type { Logger } from '../log.js';
import { Semaphore, type Release } from '../semaphore.js';
import { readyLine, type OutputOf, type ProcessorStage, type TaskOf } from '../wire/processor.js';
import { OUTPUT_SCHEMAS } from './outputs.js';
import { placeCommand, type Placement } from './placement.js';

/**
 * External processors: child processes speaking the damocles processor protocol on stdio (one JSON object
 * per line; reference/proofs-and-chain.md §B). Unlike damocles, a task can time out, and a child that dies is
 * restarted with a growing delay instead of a fixed one.
 */

const RESTART_DELAY_FIRST_MS = 1000;
const RESTART_DELAY_MAX_MS = 30_000;
/** After stdin is closed, how long a child may take to finish before it is killed. */
const CLOSE_GRACE_MS = 5000;
/** Characters of a stray stdout line kept in the log (a line may be a whole c1out). */
const LOGGED_STDOUT_CHARS = 100;
const LOGGED_STDERR_CHARS = 2000;

/** Tasks an entry without `concurrent` counts as able to take, when choosing among entries (as damocles). */
const UNLIMITED_CAPACITY = 64;

/** One external processor child for a stage (a worker's `[[processors.<stage>]]`). */
export interface ExternalProcessorConfig extends Placement {
  bin: string;
  args: string[];
  envs: Record<string, string>;
  /** The child gets the worker's environment under `envs`; false: `envs` alone. */
  inherit_envs: boolean;
  /** Tasks this child may run at once; null = no limit. */
  concurrent: number | null;
  /** Named locks (`[processors.ext_locks]`) a task of this entry holds while it runs. */
  locks: string[];
  /** A child that dies is started again; false: the entry stays down and its tasks fail as permanent. */
  auto_restart: boolean;
  /** A task not answered within this many ms fails (0 = no limit). */
  timeout: number;
  /** How long the child may take to print its ready line, ms. */
  stable_wait: number;
}

/** Defaults of the keys a caller that is not a worker config has no reason to set. */
export const EXTERNAL_DEFAULTS: Readonly<Pick<ExternalProcessorConfig, 'inherit_envs' | 'locks' | 'auto_restart' | 'cpuset' | 'numa_preferred'>> = {
  inherit_envs: true,
  locks: [],
  auto_restart: true,
  cpuset: null,
  numa_preferred: null,
};

const ResponseLine = z.object({ id: z.number().int(), err_msg: z.string().nullish(), output: z.unknown() });

interface Pending {
  id: number;
  /** The request line, serialised when the task is submitted so a task that cannot be sent fails its caller alone. */
  line: string;
  resolve(output: unknown): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
}

const truncate = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max)}…` : text);

/** One `[[processors.<stage>]]` entry: one child, restarted when it dies, running at most `concurrent` tasks at once. */
export class ExternalProcessor {
  private child: ChildProcess | undefined;
  /** The current child has printed its ready line: tasks may be sent. */
  private ready = false;
  private closed = false;
  /** Why the entry is down for good (its child died with auto_restart off); its tasks fail with this. */
  private down: Error | undefined;
  /** Tasks holding this entry's slot and locks (sent, queued, or about to be). */
  private leased = 0;
  private readonly slot: Semaphore | null;
  private readonly command: { command: string; args: string[] };
  private readonly queue: Pending[] = [];
  private readonly running = new Map<number, Pending>();
  private nextId = 1;
  private restartDelay = RESTART_DELAY_FIRST_MS;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    readonly stage: ProcessorStage,
    readonly config: ExternalProcessorConfig,
    index: number,
    log: Logger,
    /** This entry's `locks`, from the worker's `[processors.ext_locks]`; a name missing there does not limit. */
    private readonly locks: Semaphore[] = [],
  ) {
    this.log = log.child({ stage, processor: index, bin: basename(config.bin) });
    this.slot = config.concurrent === null ? null : new Semaphore(config.concurrent);
    const { warnings, ...command } = placeCommand(config.bin, config.args, config);
    this.command = command;
    for (const warning of warnings) this.log.warn(warning);
  }

  /** False once the child died with auto_restart off. */
  get alive(): boolean {
    return this.down === undefined;
  }

  /** How many more tasks this entry would take now: what damocles picks the entry by. */
  get remaining(): number {
    return (this.config.concurrent ?? UNLIMITED_CAPACITY) - this.leased;
  }

  /** The entry's slot and every one of its locks if all are free now, else nothing (and nothing held). */
  tryLease(): Release | undefined {
    const held: Release[] = [];
    for (const take of [() => (this.slot ? this.slot.tryAcquire() : noop), ...this.locks.map((l) => () => l.tryAcquire())]) {
      const release = take();
      if (!release) {
        for (const r of held) r();
        return undefined;
      }
      held.push(release);
    }
    return this.leaseOf(held);
  }

  /** Waits for the entry's slot, then its locks in order. */
  async lease(): Promise<Release> {
    const held = [(await this.slot?.acquire()) ?? noop];
    for (const lock of this.locks) held.push(await lock.acquire());
    return this.leaseOf(held);
  }

  private leaseOf(held: Release[]): Release {
    this.leased++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.leased--;
      for (const r of held.reverse()) r();
    };
  }

  /** Spawns the child; resolves once it has printed its ready line, rejects (with the child killed) otherwise. */
  start(): Promise<void> {
    return this.launch();
  }

  run(task: unknown): Promise<unknown> {
    if (this.closed) return Promise.reject(temporary(`${this.stage} processor is closed`));
    if (this.down) return Promise.reject(this.down);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      let line: string;
      try {
        line = `${JSON.stringify({ id, task })}\n`;
      } catch (err) {
        reject(new Error(`${this.stage} task cannot be encoded as JSON: ${(err as Error).message}`));
        return;
      }
      this.queue.push({ id, line, resolve, reject });
      this.pump();
    });
  }

  /** Ends the child's stdin (its signal to finish) and kills it if it is still there after a grace period. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.failQueued(temporary(`${this.stage} processor is closed`));
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.stdin?.end();
    const kill = setTimeout(() => child.kill('SIGKILL'), CLOSE_GRACE_MS);
    await exited;
    clearTimeout(kill);
  }

  private launch(): Promise<void> {
    const { bin, envs, inherit_envs, stable_wait } = this.config;
    const expected = readyLine(this.stage);
    const env = inherit_envs ? { ...process.env, ...envs } : { ...envs };
    // A process group of its own: Ctrl-C on the worker's terminal signals the whole foreground group, which
    // would kill the children mid-task before the worker could close them (the worker stops them itself).
    const child = spawn(this.command.command, this.command.args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child = child;
    this.ready = false;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${this.stage} processor ${bin} ${why}`));
      };
      // stable_wait 0: no limit, as damocles does when it is unset.
      const timer = stable_wait > 0 ? setTimeout(() => fail(`did not print "${expected}" within ${stable_wait}ms`), stable_wait) : undefined;

      createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
        if (this.child !== child) return;
        if (this.ready) {
          this.onResponse(line);
        } else if (line.trim() !== expected) {
          fail(`printed ${JSON.stringify(truncate(line, LOGGED_STDOUT_CHARS))} instead of "${expected}"`);
        } else if (!settled) {
          settled = true;
          clearTimeout(timer);
          this.ready = true;
          this.log.info({ pid: child.pid }, 'processor ready');
          resolve();
          this.pump();
        }
      });
      createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => {
        this.log.info({ pid: child.pid, stderr: truncate(line, LOGGED_STDERR_CHARS) }, 'processor stderr');
      });
      // Writing to a child that just died fails with EPIPE; its 'close' fails the tasks sent to it.
      child.stdin!.on('error', (err) => this.log.debug({ err: err.message }, 'processor stdin'));
      child.on('error', (err) => fail(`could not be started: ${err.message}`));
      child.on('close', (code, signal) => {
        const how = signal ? `signal ${signal}` : `code ${code}`;
        if (settled && this.child === child && this.ready) this.onExit(how);
        else fail(`exited (${how}) before printing "${expected}"`);
      });
    });
  }

  private pump(): void {
    const child = this.child;
    while (child && this.ready && this.running.size < (this.config.concurrent ?? Infinity)) {
      const task = this.queue.shift();
      if (!task) return;
      this.running.set(task.id, task);
      const { timeout } = this.config;
      if (timeout > 0) task.timer = setTimeout(() => this.onTimeout(task, timeout), timeout);
      child.stdin!.write(task.line);
    }
  }

  private onResponse(line: string): void {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.log.warn({ line: truncate(line, LOGGED_STDOUT_CHARS) }, 'processor printed a line that is not JSON; skipped');
      return;
    }
    const response = ResponseLine.safeParse(message);
    if (!response.success) {
      this.log.warn({ line: truncate(line, LOGGED_STDOUT_CHARS) }, 'processor printed JSON that is not a response; skipped');
      return;
    }
    // An answer proves the child works: the next crash starts the restart delays over.
    this.restartDelay = RESTART_DELAY_FIRST_MS;
    const { id, err_msg: error, output } = response.data;
    const task = this.running.get(id);
    if (!task) {
      this.log.warn({ id }, 'answer to a task that is not running (timed out?); ignored');
      return;
    }
    this.running.delete(id);
    clearTimeout(task.timer);
    if (error !== null && error !== undefined) task.reject(new Error(error));
    else if (output === null || output === undefined) task.reject(new Error('output field lost'));
    else task.resolve(output);
    this.pump();
  }

  /** The slot is freed: a hung task must not block the child's other work for ever. A late answer is ignored. */
  private onTimeout(task: Pending, timeout: number): void {
    if (!this.running.delete(task.id)) return;
    this.log.warn({ id: task.id, timeout }, 'task timed out');
    task.reject(temporary(`${this.stage} task ${task.id} got no answer within ${timeout}ms`));
    this.pump();
  }

  private onExit(how: string): void {
    this.child = undefined;
    this.ready = false;
    const failed = this.running.size;
    if (!this.config.auto_restart && !this.closed) {
      this.down = permanent(`${this.stage} processor ${this.config.bin} exited (${how}) and auto_restart is off: it stays down until the worker restarts`);
    }
    for (const task of this.running.values()) {
      clearTimeout(task.timer);
      task.reject(this.down ?? temporary(`child process exited: ${this.stage}`));
    }
    this.running.clear();
    if (this.closed) return;
    if (this.down) {
      this.log.error({ exit: how, failed }, 'processor exited; auto_restart is off, so it stays down');
      this.failQueued(this.down);
      return;
    }
    this.log.warn({ exit: how, failed, restart_in_ms: this.restartDelay }, 'processor exited');
    this.scheduleRestart();
  }

  private scheduleRestart(): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(delay * 2, RESTART_DELAY_MAX_MS);
    this.restartTimer = setTimeout(() => {
      this.launch().then(
        () => this.log.info('processor restarted'),
        (err: Error) => {
          if (this.closed) return;
          this.log.error({ err: err.message, restart_in_ms: this.restartDelay }, 'processor restart failed');
          // Tasks waiting for the child get a temporary error now rather than waiting through every retry.
          this.failQueued(temporary(`${this.stage} processor is restarting: ${err.message}`));
          this.scheduleRestart();
        },
      );
    }, delay);
  }

  private failQueued(err: Error): void {
    for (const task of this.queue.splice(0)) task.reject(err);
  }
}

/**
 * All the children of one stage. A task tries every live entry for its slot and all its locks at once and goes
 * to the one with the most room left (the later one on a tie); when none is free it waits for the first.
 */
export class ExternalStage<S extends ProcessorStage> {
  private constructor(
    readonly stage: S,
    private readonly processors: ExternalProcessor[],
  ) {}

  /**
   * Starts every child of the stage; if one fails its handshake, the others are closed again. `locks` are the
   * named locks entries may list, shared with the other stages.
   */
  static async start<S extends ProcessorStage>(stage: S, configs: ExternalProcessorConfig[], log: Logger, locks: ReadonlyMap<string, Semaphore> = new Map()): Promise<ExternalStage<S>> {
    const processors = configs.map(
      (config, i) => new ExternalProcessor(stage, config, i, log, config.locks.flatMap((name) => locks.get(name) ?? [])),
    );
    const started = await Promise.allSettled(processors.map((p) => p.start()));
    const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await Promise.all(processors.map((p) => p.close()));
      throw failure.reason;
    }
    return new ExternalStage(stage, processors);
  }

  /** `external(<bin>)`, with each distinct executable named once. */
  describe(): string {
    return `external(${[...new Set(this.processors.map((p) => basename(p.config.bin)))].join(',')})`;
  }

  async run(task: TaskOf<S>): Promise<OutputOf<S>> {
    const { processor, release } = await this.select();
    let output: unknown;
    try {
      output = await processor.run(task);
    } finally {
      release();
    }
    const parsed = OUTPUT_SCHEMAS[this.stage].safeParse(output);
    if (!parsed.success) throw permanent(`${this.stage} processor answered with an invalid output: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }

  async close(): Promise<void> {
    await Promise.all(this.processors.map((p) => p.close()));
  }

  private async select(): Promise<{ processor: ExternalProcessor; release: Release }> {
    const alive = this.processors.filter((p) => p.alive);
    const [first] = alive;
    // Every entry is down: its run() gives the reason.
    if (!first) return { processor: this.processors[0]!, release: noop };
    let best: { processor: ExternalProcessor; release: Release; remaining: number } | undefined;
    for (const processor of alive) {
      const remaining = processor.remaining;
      const release = processor.tryLease();
      if (!release) continue;
      if (best && best.remaining > remaining) {
        release();
        continue;
      }
      best?.release();
      best = { processor, release, remaining };
    }
    return best ?? { processor: first, release: await first.lease() };
  }
}

const noop: Release = () => undefined;
