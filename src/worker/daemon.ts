import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../core/log.js';
import { acquireHomeLock } from '../core/homeLock.js';
import { AUTH_VERIFY, TokenGrant } from '../core/wire/tokenGrant.js';
import type { ThreadEvent, WorkerThreadInfo } from '../core/wire/workerControl.js';
import { workerIdentity } from './advertise.js';
import { AttachedStores } from './attachedStores.js';
import { threadHome, type WorkerConfig } from './config.js';
import { startControlServer, threadNotFound } from './controlServer.js';
import type { ThreadController } from './controller.js';
import { ManagerClient } from './managerClient.js';
import { startWorkerMetrics } from './metrics.js';
import { startPing } from './ping.js';
import { createProcessors } from './processors/index.js';
import { SealingThread } from './thread.js';

export const WORKER_VERSION = 'sealfleet-worker 0.1.0';

/** The threads as the control API sees them: bad indexes and invalid moves are refused with a reason. */
class Controller implements ThreadController {
  constructor(
    private readonly name: string,
    private readonly threads: SealingThread[],
  ) {}

  /** By its `[[sealing_thread]]` index: a thread of a plan that does not run here leaves a gap. */
  private get(index: number): SealingThread {
    const t = this.threads.find((o) => o.index === index);
    if (!t) throw new RangeError(threadNotFound(index, this.name, this.threads.map((o) => o.index)));
    return t;
  }

  list(): WorkerThreadInfo[] {
    return this.threads.map((t) => t.info());
  }

  pause(index: number): boolean {
    return this.get(index).pause();
  }

  resume(index: number, state: string | null): boolean {
    this.get(index).resume(state);
    return true;
  }

  drain(index: number | null): number {
    const targets = index === null ? this.threads : [this.get(index)];
    for (const t of targets) t.drain();
    return targets.length;
  }

  log(index: number, limit: number): ThreadEvent[] {
    return this.get(index).history(limit);
  }
}

/**
 * Starts the worker: one sealing thread per `[[sealing_thread]]`, the control API, and the ping to the
 * manager. Attached persist stores must be known to the manager, or the worker refuses to start.
 */
export async function startWorker(config: WorkerConfig): Promise<{ close(): Promise<void>; controlUrl: string; threads(): WorkerThreadInfo[] }> {
  const { urls, token, piece_token, headers } = config.sector_manager;
  const log = createLogger('worker');
  const manager = new ManagerClient(urls, token, headers, log);
  // The name may be the address towards a manager, so it is known only once one was reached.
  const identity = await workerIdentity(config.worker, () => manager.rpc.urls, log);
  log.setBindings({ instance: identity.name });
  for (const warning of config.warnings) log.warn(warning);
  const releases = config.threads.flatMap((t) => {
    const home = threadHome(t);
    if (home === null) return [];
    mkdirSync(home, { recursive: true });
    return [acquireHomeLock(join(home, 'worker.lock'), `a worker thread at ${home}`)];
  });
  const pieceAccess = { token: piece_token ?? token, marketToken: piece_token, headers };
  const processors = await createProcessors(config.processors, log.child({ part: 'processors' }), pieceAccess);
  let threads: SealingThread[] = [];
  let metrics: Awaited<ReturnType<typeof startWorkerMetrics>> | undefined;
  try {
    for (const a of config.attached) {
      const info = await manager.storeInfo(a.name);
      if (!info) throw new Error(`attached store "${a.name}" is not a persist store of the manager at ${manager.base}`);
    }
    if (config.metrics.enable) {
      const sources = { threads: () => threads.map((t) => ({ ...t.info(), state_age: t.stateAge() })), inFlight: () => processors.inFlight() };
      metrics = await startWorkerMetrics(config.metrics.http_listen, identity.name, sources, (err) => log.error({ err }, 'metrics request failed'));
    }
    const observer = metrics?.observer;
    threads = config.threads.map(
      (t) => new SealingThread(t, { manager, processors, instance: identity.name, attached: new AttachedStores(config.attached), pieceDirs: config.worker.local_pieces_dirs, log, observer }),
    );
    const controller = new Controller(identity.name, threads);
    const checkWithManager = (token: string) => manager.rpc.call(AUTH_VERIFY, [token], { schema: TokenGrant, timeoutMs: 10_000 });
    const about = { name: identity.name, version: WORKER_VERSION };
    const control = await startControlServer(config.worker.rpc_server, controller, about, log.child({ part: 'control' }), checkWithManager);
    for (const t of threads) t.start();
    const port = Number(new URL(control.url).port);
    const info = async () => ({ Name: identity.name, Dest: await identity.dest(port), Version: WORKER_VERSION, threads: controller.list() });
    const stopPing = startPing(manager, info, config.worker.ping_interval, log, metrics?.ping);
    log.info(
      { control: control.url, dest: await identity.dest(port), metrics: metrics?.url ?? null, managers: manager.rpc.urls, threads: threads.map((t) => `${t.index}:${t.plan.name}@${t.config.location ?? '-'}`), processors: processors.describe('pc1') },
      'worker up',
    );
    return {
      controlUrl: control.url,
      threads: () => controller.list(),
      close: async () => {
        stopPing();
        await control.close();
        await metrics?.close();
        await Promise.all(threads.map((t) => t.stop()));
        await processors.close();
        for (const r of releases) r();
      },
    };
  } catch (err) {
    await metrics?.close();
    await Promise.all(threads.map((t) => t.stop()));
    await processors.close();
    for (const r of releases) r();
    throw err;
  }
}
