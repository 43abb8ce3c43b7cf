import { Command } from 'commander';
import { getPlan, isPlanName, isPlanState, planStates } from '../core/plans/index.js';
import { RPC_CODES, RpcError } from '../core/rpc/errors.js';
import { joinHostPort } from '../core/rpc/server.js';
import { formatDuration } from '../core/units.js';
import type { WorkerThreadInfo } from '../core/wire/workerControl.js';
import { isLoopback } from '../core/rpc/origin.js';
import { loadWorkerConfig, type WorkerConfig } from '../worker/config.js';
import { addExamples } from './examples.js';
import { die, indexArg, runUntilSignal } from './options.js';
import { renderTable } from './table.js';
import { printableJson, printLine } from '../core/terminalText.js';
import { logLimitArg, renderThreadLog } from './threadLog.js';
import { WorkerControl } from './workerClient.js';

const out = (text: string): void => {
  process.stdout.write(text);
};

/** Set when the worker's own manager token was sent: the daemon lets it read, not steer (see `hint`). */
let readOnlyToken = false;

/**
 * The token the control commands send: `$SEALFLEET_WORKER_TOKEN` (the worker's rpc_server.token or a
 * manager admin token, never on the command line where `ps` shows it), else `rpc_server.token`, else, for a
 * daemon that is not open on loopback, the worker's own manager token, which the daemon accepts for
 * reading only.
 */
function controlToken(config: WorkerConfig): string | undefined {
  const { host, token } = config.worker.rpc_server;
  const fromEnv = process.env.SEALFLEET_WORKER_TOKEN;
  if (fromEnv) return fromEnv;
  if (token !== null) return token;
  if (isLoopback(host)) return undefined;
  readOnlyToken = true;
  return config.sector_manager.token ?? undefined;
}

/** The control API of the daemon this config describes; a wildcard listen address is reached on loopback. */
function controlOf(config: WorkerConfig): WorkerControl {
  const { host, port } = config.worker.rpc_server;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const url = `http://${joinHostPort(reachable, port)}/rpc/v0`;
  const token = controlToken(config);
  return new WorkerControl(config.worker.name ?? `of ${config.path}`, url, token);
}

/** A refusal for want of permission says what would have had it. */
function hint(err: unknown): unknown {
  if (!readOnlyToken || !(err instanceof RpcError) || err.code !== RPC_CODES.Unauthorized) return err;
  return new Error(
    `${err.message}: this worker's own manager token may only read its threads; to pause, resume or drain, set SEALFLEET_WORKER_TOKEN to a manager admin token or configure rpc_server.token`,
  );
}

const HEAD = ['#', 'Location', 'Plan', 'SectorID', 'Paused', 'PausedElapsed', 'State', 'Stage', 'LastErr'];

function threadRow(t: WorkerThreadInfo): (string | number | boolean)[] {
  const paused = t.thread_state.state === 'Paused';
  return [
    t.index,
    t.location,
    t.plan,
    t.job_id ?? '-',
    paused,
    paused && t.thread_state.elapsed !== undefined ? formatDuration(t.thread_state.elapsed * 1000) : '-',
    t.job_state || '-',
    t.job_stage ?? '-',
    t.last_error ?? '-',
  ];
}

/**
 * Refuses a resume state that is not a state of the thread's plan before anything is sent. A plan we do
 * not know (a damocles worker's `wdpost`, say) is left to the worker to judge.
 */
async function checkResumeState(control: WorkerControl, index: number, state: string): Promise<void> {
  const thread = (await control.list()).find((t) => t.index === index);
  // The daemon refuses an index it does not have, naming its threads.
  if (!thread || !isPlanName(thread.plan)) return;
  const plan = getPlan(thread.plan);
  if (!isPlanState(plan, state)) {
    throw new Error(`invalid state "${state}" for thread #${index} (plan ${plan.name}): expected one of ${planStates(plan).join(', ')}`);
  }
}

const program = new Command('sealfleet-worker')
  .description('sealfleet worker: sealing threads that each drive one sector at a time')
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('daemon')
  .description('run the worker: one sealing thread per [[sealing_thread]], the control API, pings to the manager')
  .requiredOption('-c, --config <file>', 'worker config (TOML)')
  .action(async (o: { config: string }) => {
    const config = loadWorkerConfig(o.config);
    // Loaded only here: the control commands must not pay for (or depend on) the daemon's whole module graph.
    const { startWorker } = await import('../worker/daemon.js');
    await runUntilSignal(async () => {
      const worker = await startWorker(config);
      return () => worker.close();
    });
  });

const worker = program
  .command('worker')
  .description("operate the sealing threads of the worker daemon running with this config")
  .requiredOption('-c, --config <file>', 'worker config (TOML): where its control API listens, and its token');
const configOf = (cmd: Command): WorkerConfig => loadWorkerConfig((cmd.optsWithGlobals() as { config: string }).config);

worker
  .command('list')
  .description('every sealing thread with its sector, state and last error')
  .option('--json', 'print JSON')
  .action(async (o: { json?: boolean }, cmd: Command) => {
    const threads = await controlOf(configOf(cmd)).list();
    if (o.json) return out(`${printableJson(threads)}\n`);
    out(renderTable(HEAD, threads.map(threadRow)));
  });

worker
  .command('pause')
  .description('pause a sealing thread; a running step finishes and is persisted first')
  .requiredOption('-i, --index <i>', 'thread index, as in list', indexArg)
  .action(async (o: { index: number }, cmd: Command) => {
    const done = await controlOf(configOf(cmd)).pause(o.index);
    out(`#${o.index}: ${done ? 'pause requested' : 'already paused'}\n`);
  });

worker
  .command('resume')
  .description('resume a paused sealing thread, optionally in another state of its plan')
  .option('-s, --state <state>', 'the state to resume in, e.g. TreeDBuilt or Aborted')
  .requiredOption('-i, --index <i>', 'thread index, as in list', indexArg)
  .action(async (o: { index: number; state?: string }, cmd: Command) => {
    const control = controlOf(configOf(cmd));
    if (o.state !== undefined) await checkResumeState(control, o.index, o.state);
    if (!(await control.resume(o.index, o.state ?? null))) throw new Error(`thread #${o.index} was not resumed: it is not paused`);
    out(printLine(`#${o.index}: resumed${o.state === undefined ? '' : ` in state ${o.state}`}`));
  });

worker
  .command('drain')
  .description('finish the current sector and take no new one: one thread, or every thread')
  .option('-i, --index <i>', 'thread index, as in list (default: all threads)', indexArg)
  .action(async (o: { index?: number }, cmd: Command) => {
    const count = await controlOf(configOf(cmd)).drain(o.index ?? null);
    out(`draining ${count} thread${count === 1 ? '' : 's'}: each finishes its current sector and takes no new one\n`);
  });

worker
  .command('log')
  .description("a sealing thread's own event log: each transition, how long its step took and how much of it ran in processors")
  .requiredOption('-i, --index <i>', 'thread index, as in list', indexArg)
  .option('-n, --limit <n>', 'how many of the latest rows', logLimitArg, 50)
  .option('--json', 'print JSON')
  .action(async (o: { index: number; limit: number; json?: boolean }, cmd: Command) => {
    const events = await controlOf(configOf(cmd)).log(o.index, o.limit);
    out(o.json ? `${printableJson(events)}\n` : renderThreadLog(events));
  });

const W = 'sealfleet-worker';
addExamples(program, {
  '': [`${W} daemon -c worker.toml`, `${W} worker list -c worker.toml`],
  daemon: [`${W} daemon -c /etc/sealfleet/worker.toml`],
  worker: [`${W} worker list -c worker.toml`],
  'worker list': [`${W} worker list -c worker.toml`, `${W} worker list -c worker.toml --json`],
  'worker pause': [`${W} worker pause -c worker.toml -i 0`],
  'worker resume': [`${W} worker resume -c worker.toml -i 0`, `${W} worker resume -c worker.toml -i 0 -s Aborted`],
  'worker drain': [`${W} worker drain -c worker.toml`, `${W} worker drain -c worker.toml -i 1`],
  'worker log': [`${W} worker log -c worker.toml -i 0 -n 20 --json`],
});

program.parseAsync().catch((err: unknown) => die(hint(err)));
