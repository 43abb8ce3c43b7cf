import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { decodePreCommitSectorBatch2, decodeProveCommitSectors3, decodeProveReplicaUpdates3, MinerMethod } from '../../src/chain/minerParams.js';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { eventually } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { CONTROL_PORT, startFleetManager, startFleetWorker, writeFleetWorkerConfig, type FleetManager } from './cluster.js';
import { createFleet, fleetAvailable } from './netns.js';

/** Generous: two cores shared with other test runs. */
const LONG = 150_000;

/** Where resuming into TreeDBuilt means a fresh ticket: one was assigned, and no PreCommit was sent yet. */
const TICKET_NOT_USED = ['TicketAssigned', 'PC1Done', 'PC2Done'];
/** Where an abort leaves nothing on chain but perhaps a PreCommit. */
const BEFORE_PROVE = ['TreeDBuilt', ...TICKET_NOT_USED, 'PCSubmitted', 'PCLanded', 'Persisted', 'PersistanceSubmitted', 'SeedAssigned', 'C1Done', 'C2Done'];

interface WorkerRow {
  Name: string;
  Dest: string;
}

/** Successful miner messages on the devnet, by sector number: pre-commits, proves, replica updates. */
function chainMessages(home: string): { preCommits: Map<number, number>; proves: Map<number, number>; updates: Map<number, number> } {
  const db = new Database(join(home, 'devnet', 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    const counts = { preCommits: new Map<number, number>(), proves: new Map<number, number>(), updates: new Map<number, number>() };
    const add = (map: Map<number, number>, n: number) => map.set(n, (map.get(n) ?? 0) + 1);
    const rows = db.prepare('select body from messages where height is not null and exit_code = 0').all() as { body: string }[];
    for (const { body } of rows) {
      const msg = JSON.parse(body) as { Method: number; Params: string | null };
      const params = Buffer.from(msg.Params ?? '', 'base64');
      if (msg.Method === MinerMethod.PreCommitSectorBatch2) for (const s of decodePreCommitSectorBatch2(params).sectors) add(counts.preCommits, s.sectorNumber);
      if (msg.Method === MinerMethod.ProveCommitSectors3) for (const s of decodeProveCommitSectors3(params).sectorActivations) add(counts.proves, s.sectorNumber);
      if (msg.Method === MinerMethod.ProveReplicaUpdates3) for (const s of decodeProveReplicaUpdates3(params).sectorUpdates) add(counts.updates, s.sector);
    }
    return counts;
  } finally {
    db.close();
  }
}

/** What the operator does from the manager's host to one remote worker's thread, through `util worker`. */
class RemoteThread {
  constructor(
    private readonly m: FleetManager,
    readonly worker: string,
    readonly index: number,
  ) {}

  async info(): Promise<WorkerThreadInfo> {
    const threads = await this.m.utilJson<WorkerThreadInfo[]>('worker', 'info', this.worker);
    const t = threads.find((x) => x.index === this.index);
    assert.ok(t, `util worker info ${this.worker} lists thread ${this.index}: ${JSON.stringify(threads)}`);
    return t;
  }

  async command(...args: string[]): Promise<void> {
    const r = await this.m.util('worker', ...args);
    assert.equal(r.code, 0, `util worker ${args.join(' ')}: ${r.stderr}`);
  }

  /**
   * Pauses the thread once it works on a sector not in `skip` in one of `states`, and resolves once it is paused
   * in one of `accepted` (a pause takes effect when the running step ends, so it may land later).
   */
  async pauseIn(states: readonly string[], accepted: readonly string[], skip: ReadonlySet<string>): Promise<WorkerThreadInfo> {
    for (;;) {
      await eventually(`${this.worker} #${this.index} in ${states.join('|')}`, async () => {
        const t = await this.info();
        return t.thread_state.state !== 'Paused' && t.job_id !== null && !skip.has(t.job_id) && states.includes(t.job_state) ? t : undefined;
      }, LONG);
      await this.command('pause', this.worker, String(this.index));
      const paused = await eventually(`${this.worker} #${this.index} paused`, async () => {
        const t = await this.info();
        return t.thread_state.state === 'Paused' ? t : undefined;
      }, LONG);
      if (paused.job_id !== null && !skip.has(paused.job_id) && accepted.includes(paused.job_state)) return paused;
      // The sector moved on before the pause took effect: let the thread go on and try with the next one.
      await this.command('resume', this.worker, String(this.index));
    }
  }
}

describe('fleet: manager, devnet and two workers on three hosts, a persist store at three paths', () => {
  it('seals and snaps up across hosts, survives a killed worker and a cut link, and is operated remotely', { timeout: 360_000 }, async (t) => {
    if (!(await fleetAvailable(t))) return;
    const began = Date.now();
    const reached = (what: string) => t.diagnostic(`${what} after ${Math.round((Date.now() - began) / 1000)} s`);
    const root = tempDir('fleet');
    // The store as an NFS server exports it, and where each host mounts it.
    const store = join(root, 'nfs-export');
    const mounts = { a: join(root, 'a', 'mnt', 'persist'), b: join(root, 'b', 'nfs', 'sealed'), c: join(root, 'c', 'srv', 'store-1') };
    mkdirSync(store);
    const imports = join(root, 'a', 'imports');
    mkdirSync(imports, { recursive: true });
    const fleet = await createFleet([
      { name: 'a', mounts: [{ source: store, target: mounts.a }] },
      { name: 'b', mounts: [{ source: store, target: mounts.b }] },
      { name: 'c', mounts: [{ source: store, target: mounts.c }] },
    ]);
    try {
      const [A, B, C] = [fleet.host('a'), fleet.host('b'), fleet.host('c')];
      const m = await startFleetManager(A, join(root, 'a', 'home'), { stores: [{ name: 'nfs', path: mounts.a }], importDir: imports });
      const sectors = () => m.utilJson<SectorSummary[]>('sealer', 'sectors', 'list');
      const importPiece = async (bytes: number): Promise<string> => {
        const file = join(imports, `piece-${bytes}.bin`);
        writeFileSync(file, randomBytes(bytes));
        const r = await m.util('deals', 'import', file);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.split(/\s+/)[0] ?? '';
      };
      // A full 2KiB piece for a sealer thread that takes only full sectors of deals; later a small one, which
      // only the snap-up thread takes.
      const sealerPiece = await importPiece(1500);

      // Quick steps, but pc1 long enough that the kill lands inside it; retries enough to ride out the cut link.
      const timings = { sealing: ['max_retries = 8'], mock: ['stage_time = "100ms"', 'stage_times.pc1 = "1s"'] };
      const w1Config = await writeFleetWorkerConfig(m, {
        name: 'w1',
        dir: join(root, 'b', 'worker'),
        threads: [{ plan: 'sealer' }, { plan: 'snapup', sealing: ['sealing.enable_deals = true'] }],
        attached: [{ name: 'nfs', location: mounts.b }],
        ...timings,
      });
      const w2Config = await writeFleetWorkerConfig(m, {
        name: 'w2',
        dir: join(root, 'c', 'worker'),
        threads: [{ plan: 'sealer', sealing: ['sealing.enable_deals = true', 'sealing.min_deal_space = "2KiB"'] }, { plan: 'sealer' }],
        attached: [{ name: 'nfs', location: mounts.c }],
        ...timings,
      });
      let w1 = await startFleetWorker(B, w1Config);
      const w2 = await startFleetWorker(C, w2Config);

      await eventually('the full piece in a sector', async () => {
        const pieces = await m.utilJson<{ PieceCID: string; Sector: string | null }[]>('deals', 'list');
        return pieces.find((p) => p.PieceCID === sealerPiece)?.Sector ?? undefined;
      }, LONG);
      const snapPiece = await importPiece(400);

      // W2's cable is pulled for 10 s (the scenario itself, not a wait for something); meanwhile W1 is
      // SIGKILLed while its sealer thread runs pc1, and started again with the same config.
      await C.linkDown();
      const cutAt = Date.now();
      const killed = await eventually('w1 #0 running pc1', async () => {
        const t0 = (await w1.list())[0];
        return t0?.thread_state.state === 'Running' && t0.job_state === 'TicketAssigned' && t0.job_id ? t0.job_id : undefined;
      }, LONG);
      await w1.daemon.kill('SIGKILL');
      w1 = await startFleetWorker(B, w1Config);
      await sleep(Math.max(0, 10_000 - (Date.now() - cutAt)));
      await C.linkUp();
      reached('w1 restarted and w2 reconnected');

      // Remote control from host A, on both workers: list, info, pause, resume into TreeDBuilt (a fresh
      // ticket), and resume into Aborted.
      const workers = await eventually('both workers listed with their fleet addresses', async () => {
        const rows = await m.utilJson<WorkerRow[]>('worker', 'list');
        const find = (name: string) => rows.find((r) => r.Name === name);
        return find('w1')?.Dest === `${B.address}:${CONTROL_PORT}` && find('w2')?.Dest === `${C.address}:${CONTROL_PORT}` ? rows : undefined;
      }, LONG);
      assert.equal(workers.length, 2);
      const table = await m.util('worker', 'list');
      assert.match(table.stdout, new RegExp(`w1 +${B.address.replaceAll('.', '\\.')}:${CONTROL_PORT}`));

      const retried = new Set<string>();
      const aborted = new Set<string>();
      await Promise.all(
        [new RemoteThread(m, 'w1', 0), new RemoteThread(m, 'w2', 1)].map(async (thread) => {
          const before = await thread.pauseIn(['TreeDBuilt', 'TicketAssigned'], TICKET_NOT_USED, new Set([killed]));
          const retry = before.job_id as string;
          retried.add(retry);
          await thread.command('resume', thread.worker, String(thread.index), 'TreeDBuilt');

          const doomed = await thread.pauseIn(['TicketAssigned', 'PC1Done', 'PC2Done'], BEFORE_PROVE, new Set([killed, retry]));
          const id = doomed.job_id as string;
          aborted.add(id);
          await thread.command('resume', thread.worker, String(thread.index), 'Aborted');
          await eventually(`${id} aborted and ${thread.worker} #${thread.index} on another sector`, async () => {
            const s = (await sectors()).find((x) => x.Sector === id);
            const now = await thread.info();
            return s?.Status === 'aborted' && now.thread_state.state !== 'Paused' && now.job_id !== id ? true : undefined;
          }, LONG);
        }),
      );

      reached('remote pause, resume TreeDBuilt and resume Aborted done on both workers');
      await eventually('6 sealed sectors, with the deal sector and one snap-up among the finished', async () => {
        const rows = await sectors();
        const sealed = rows.filter((s) => s.Status === 'finalized');
        const pieces = await m.utilJson<{ PieceCID: string; Status: string; Sector: string | null }[]>('deals', 'list');
        const dealsSealed = [sealerPiece, snapPiece].every((cid) => pieces.find((p) => p.PieceCID === cid)?.Status === 'sealed');
        return sealed.length >= 6 && sealed.some((s) => s.Plan === 'snapup') && dealsSealed ? true : undefined;
      }, LONG);

      reached('6 sectors sealed');
      // Every sector in flight finishes: the workers take no new ones, and all they hold ends.
      for (const w of [w1, w2]) await w.drain();
      const final = await eventually('no sector still sealing', async () => {
        const rows = await sectors();
        return rows.some((s) => s.Status === 'sealing') ? undefined : rows;
      }, LONG);

      reached('all sectors ended');
      const numbers = final.map((s) => s.Number);
      assert.equal(new Set(numbers).size, numbers.length, `no sector number twice: ${numbers.join(', ')}`);
      assert.deepEqual(final.filter((s) => s.Status === 'aborted').map((s) => s.Sector).sort(), [...aborted].sort(), 'the sectors aborted by the operator, and no other');
      const finished = final.filter((s) => s.Status === 'finalized');
      for (const id of [killed, ...retried]) assert.ok(finished.some((s) => s.Sector === id), `${id} (killed or sent back for a ticket) finished`);
      const pieces = await m.utilJson<{ PieceCID: string; Sector: string | null }[]>('deals', 'list');
      for (const [cid, plan] of [[sealerPiece, 'sealer'], [snapPiece, 'snapup']] as const) {
        const sector = pieces.find((p) => p.PieceCID === cid)?.Sector;
        assert.ok(finished.some((s) => s.Sector === sector && s.Plan === plan), `the ${plan} deal piece is in finished sector ${sector}`);
      }
      const chain = chainMessages(m.home);
      for (const s of final) {
        const log = await m.utilJson<SectorEvent[]>('sealer', 'sectors', 'log', s.Sector);
        const upgrade = log.findIndex((e) => e.Event === 'SnapUpAllocated');
        const runs = upgrade < 0 ? [log] : [log.slice(0, upgrade), log.slice(upgrade)];
        for (const run of runs) {
          assert.equal(run.filter((e) => e.Next === 'Finished').length, s.Status === 'finalized' ? 1 : 0, `${s.Sector} finished once per plan: ${JSON.stringify(log)}`);
        }
        if (s.Status === 'finalized') {
          assert.equal(chain.preCommits.get(s.Number), 1, `${s.Sector}: one pre-commit on chain`);
          assert.equal(chain.proves.get(s.Number), 1, `${s.Sector}: one prove on chain`);
        } else assert.equal(chain.proves.get(s.Number), undefined, `${s.Sector}: aborted, never proven`);
        assert.equal(chain.updates.get(s.Number), s.Plan === 'snapup' ? 1 : undefined, `${s.Sector}: a replica update only for the snap-up`);
      }
      for (const id of retried) {
        const log = await m.utilJson<SectorEvent[]>('sealer', 'sectors', 'log', id);
        assert.ok(log.filter((e) => e.Event === 'AssignTicket').length >= 2, `${id} got a fresh ticket after the resume into TreeDBuilt: ${JSON.stringify(log)}`);
      }

      // Files went through each worker's own mount into the one store: every sector is there, and the three
      // mount points, seen from outside the hosts, are still empty.
      const inStore = (sub: string) => readdirSync(join(store, sub));
      for (const s of finished) assert.ok(inStore('sealed').includes(s.Sector) && inStore('cache').includes(s.Sector), `${s.Sector} is in the store`);
      assert.deepEqual(inStore('update'), finished.filter((s) => s.Plan === 'snapup').map((s) => s.Sector));
      for (const path of Object.values(mounts)) assert.deepEqual(readdirSync(path), [], `nothing was written at ${path} outside its host`);
    } finally {
      await fleet.cleanup();
    }
  });
});
