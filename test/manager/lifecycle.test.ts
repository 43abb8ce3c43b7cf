import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import { after, before, describe, it } from 'node:test';
import { PLAN_NAMES } from '../../src/core/plans/types.js';
import { RpcError } from '../../src/core/rpc/errors.js';
import type { SectorID, SectorPieceV2 } from '../../src/core/wire/sealer.js';
import { pino } from 'pino';
import { migrations } from '../../src/manager/db/migrations.js';
import { openDatabase, type ManagerDb } from '../../src/manager/db/open.js';
import { DATABASE_FILE } from '../../src/manager/db/sqlite.js';
import type { DatabaseTarget } from '../../src/manager/db/target.js';
import { PieceQueue } from '../../src/manager/deals/pieces.js';
import type { UpgradeRecord } from '../../src/manager/sectors/columns.js';
import {
  PLAN_STAGES,
  SECTOR_PLANS,
  STATUS_OF,
  TRANSITIONS,
  TRANSITION_NAMES,
  LIFE_TRANSITIONS,
  allocatedPosition,
  type LifecyclePosition,
  type Move,
  type SectorPlan,
  type SectorStage,
  type TransitionName,
} from '../../src/manager/sectors/lifecycle.js';
import { SectorStore } from '../../src/manager/sectors/store.js';
import { PersistStores } from '../../src/manager/stores.js';
import { createTestDatabase, testStore } from '../helpers/postgres.js';
import { tempDir } from '../helpers/processes.js';

const silent = pino({ level: 'silent' });

/** The store the suite runs on (SEALFLEET_TEST_STORE): a new SQLite file in the home, or a new PostgreSQL database. */
const newTarget = async (): Promise<DatabaseTarget> => (testStore() === 'postgres' ? { kind: 'postgres', url: await createTestDatabase() } : { kind: 'sqlite' });

const bytes = (n: number) => Array.from({ length: 32 }, (_, i) => (i * n) % 256);
const TICKET = { Ticket: 'AAEC', Epoch: 5 };
const PRE = { CommR: bytes(3), CommD: bytes(5), Ticket: TICKET };
const PIECE: SectorPieceV2 = {
  Piece: { Size: 1024, PieceCID: { '/': 'baga6ea4seaqtest' } },
  DealInfo: {
    DealID: 0,
    PublishCid: null,
    AllocationID: 1,
    PieceCID: { '/': 'baga6ea4seaqtest' },
    PieceSize: 1024,
    Client: 't01000',
    Provider: 't01000',
    Offset: 0,
    Length: 1024,
    PayloadSize: 600,
    StartEpoch: 1,
    EndEpoch: 100,
    IsBuiltinMarket: false,
    IsCompatible: true,
  },
};
const UPGRADE: UpgradeRecord = { public: { CommR: bytes(3), SealedCID: { '/': 'bagboea4b5abtest' }, Activation: 1, Expiration: 100 }, accessInstance: 'local' };
const SUBMITTED = { CommR: bytes(7), CommD: bytes(9), Proof: 'AAAA', AccessInstance: 'local' };

/**
 * Each transition called through the store with valid data, so that only the lifecycle decides whether
 * it goes through. Transitions that pick their sector (orphans, rebuilds) report `undefined` when they
 * find none; every other one throws its refusal.
 */
type Invoke = (store: SectorStore, db: ManagerDb, id: SectorID) => Promise<unknown>;
const message = (kind: 'precommit' | 'prove' | 'snap'): Invoke => (store, _db, id) => {
  const messageId = randomUUID();
  return store.recordMessage(kind, id.Miner, [id.Number], messageId, async (trx) => {
    await trx
      .insertInto('messages')
      .values({ id: messageId, kind, miner: id.Miner, sectors: JSON.stringify([id.Number]), method: 1, params: '', value: '0', cid: null, state: 'new', exit_code: null, height: null, created_at: Date.now() })
      .execute();
  });
};
const INVOKE: Record<TransitionName, Invoke> = {
  SectorAllocated: (store, _db, id) => store.allocate(id, 5),
  DealsAcquired: (store, _db, id) => store.acquireDeals(id, async () => null),
  TicketAssigned: (store, _db, id) => store.assignTicket(id, TICKET),
  PreCommitQueued: (store, _db, id) => store.queuePreCommit(id, PRE, [], false),
  PreCommitOnChain: (store, _db, id) => store.queuePreCommit(id, PRE, [], true),
  PreCommitSent: message('precommit'),
  SeedAssigned: (store, _db, id) => store.assignSeed(id, { Seed: 'AAAA', Epoch: 9 }),
  ProofQueued: (store, _db, id) => store.queueProof(id, 'AAAA'),
  ProofSent: message('prove'),
  Persisted: (store, _db, id) => store.persisted(id, 'local'),
  Finalized: (store, _db, id) => store.finalize(id),
  AbortRequested: (store, _db, id) => store.requestAbort(id, 'operator says no'),
  Aborted: (store, _db, id) => store.abort(id, 'given up'),
  OrphanReleased: (store) => store.releaseOrphan(Date.now() + 60_000, () => 'orphaned: test'),
  SnapUpAllocated: (store, _db, id) => store.startSnapUp(id, UPGRADE, async () => [PIECE]),
  UpgradeQueued: (store, _db, id) => store.queueUpgrade(id, SUBMITTED),
  UpgradeSent: message('snap'),
  UpgradeResend: (store, _db, id) => store.resendUpgrade(id, 'out of gas'),
  UpgradeLanded: (store, _db, id) => store.landUpgrade(id, 50, 'landed'),
  RebuildRequested: (store, _db, id) => store.requestRebuild(id),
  RebuildAllocated: (store, _db, id) => store.startRebuild(id.Miner),
  PoStSkipped: (store, _db, id) => store.recordLife(id, 'PoStSkipped', 'sealed file missing'),
  FaultDeclared: (store, _db, id) => store.recordLife(id, 'FaultDeclared', 'message bafy…'),
  RecoveryDeclared: (store, _db, id) => store.recordLife(id, 'RecoveryDeclared', 'message bafy…'),
  Recovered: (store, _db, id) => store.recordLife(id, 'Recovered', 'proven in deadline 1'),
  ExpirationExtended: (store, _db, id) => store.recordLife(id, 'ExpirationExtended', 'to epoch 5000'),
  Terminated: (store, _db, id) => store.recordLife(id, 'Terminated', 'message bafy…'),
  ChainMessageFailed: (store, _db, id) => store.recordLife(id, 'ChainMessageFailed', 'TerminateSectors (Terminated) failed with exit code 16'),
};
/** Transitions that find their sector themselves instead of being given one. */
const PICKS_ITS_SECTOR: readonly TransitionName[] = ['OrphanReleased', 'RebuildAllocated'];

const key = (p: LifecyclePosition) => `${p.plan}/${p.stage}`;
const moveOf = (name: TransitionName, plan: SectorPlan) => (TRANSITIONS[name] as Record<SectorPlan, Move | null>)[plan];
/** What the table says, read straight from its data. */
const expected = (name: TransitionName, at: LifecyclePosition, upgraded: boolean): LifecyclePosition | null => {
  const move = moveOf(name, at.plan);
  if (!move || !(move.from as readonly string[]).includes(at.stage)) return null;
  const plan = move.plan === 'as-sealed' ? (upgraded ? 'snapup' : 'sealer') : (move.plan ?? at.plan);
  return { plan, stage: move.to ?? at.stage };
};

/** The shortest walk of transitions, allocation first, to every plan and stage the table can reach. */
function walks(): Map<string, TransitionName[]> {
  const start = allocatedPosition();
  const found = new Map<string, TransitionName[]>([[key(start), ['SectorAllocated']]]);
  const queue: { at: LifecyclePosition; upgraded: boolean; path: TransitionName[] }[] = [{ at: start, upgraded: false, path: ['SectorAllocated'] }];
  while (queue.length > 0) {
    const { at, upgraded, path } = queue.shift() as (typeof queue)[number];
    for (const name of TRANSITION_NAMES.filter((n) => n !== 'OrphanReleased')) {
      const to = expected(name, at, upgraded);
      if (!to || found.has(key(to))) continue;
      const next = [...path, name];
      found.set(key(to), next);
      queue.push({ at: to, upgraded: name === 'SnapUpAllocated' ? true : name === 'Aborted' && at.plan === 'snapup' ? false : upgraded, path: next });
    }
  }
  return found;
}

const positions = (): LifecyclePosition[] => SECTOR_PLANS.flatMap((plan) => (PLAN_STAGES[plan] as readonly SectorStage[]).map((stage) => ({ plan, stage })));

describe('sector lifecycle table', () => {
  it('leads every move to a stage of the plan it leaves the sector under, and reaches every stage of every plan', () => {
    for (const name of TRANSITION_NAMES) {
      for (const plan of SECTOR_PLANS) {
        const move = moveOf(name, plan);
        if (!move?.to) continue;
        const targets: SectorPlan[] = move.plan === 'as-sealed' ? ['sealer', 'snapup'] : [move.plan ?? plan];
        for (const target of targets) assert.ok((PLAN_STAGES[target] as readonly string[]).includes(move.to), `${name} (${plan}) leads to ${move.to}, not a ${target} stage`);
      }
    }
    const reached = walks();
    for (const p of positions()) assert.ok(reached.has(key(p)), `${key(p)} is reachable`);
  });
  it("has a lifecycle for every worker plan that holds a sector, and none for wdpost, whose jobs hold none", () => {
    for (const plan of PLAN_NAMES) {
      const holdsSector = plan !== 'wdpost';
      assert.equal((SECTOR_PLANS as readonly string[]).includes(plan), holdsSector, `${plan} ${holdsSector ? 'has' : 'has no'} sector lifecycle`);
      if (holdsSector) assert.ok(PLAN_STAGES[plan as SectorPlan].length > 0, `${plan} has stages`);
    }
  });
});

describe('sector store against the lifecycle table (real SQLite)', () => {
  const dbs: ManagerDb[] = [];
  after(async () => {
    for (const db of dbs) await db.destroy();
  });
  let paths: Map<string, TransitionName[]>;
  before(() => {
    paths = walks();
  });

  /** A store on a new database of its own: sectors that pick themselves only see that position's sectors. */
  const newStore = async (): Promise<{ store: SectorStore; db: ManagerDb }> => {
    const home = tempDir('lifecycle');
    const target = await newTarget();
    const db = await openDatabase(home, target, silent);
    dbs.push(db);
    const store = new SectorStore(db, { pieces: new PieceQueue(db, home), stores: new PersistStores(db, [], target.kind) }, target.kind);
    return { store, db };
  };

  it('allows each transition from exactly the stages the table lists for the sector\'s plan, and refuses it elsewhere with the reason', async () => {
    let miner = 1000;
    let checked = 0;
    for (const at of positions()) {
      const { store, db } = await newStore();
      // The transitions that pick their sector go first, while the database holds only theirs.
      const order = [...PICKS_ITS_SECTOR, ...TRANSITION_NAMES.filter((n) => !PICKS_ITS_SECTOR.includes(n))];
      for (const name of order) {
        // Each case has a miner of its own: rebuilds are picked per miner.
        const id = { Miner: ++miner, Number: 1 };
        for (const step of paths.get(key(at)) ?? assert.fail(`no walk to ${key(at)}`)) await INVOKE[step](store, db, id);
        const startRow = await store.require(id);
        assert.deepEqual({ plan: startRow.plan, stage: startRow.stage }, at, `the walk reached ${key(at)}`);
        const eventsBefore = (await store.events(id, 10_000)).length;
        const want = expected(name, at, startRow.upgrade !== null);
        const outcome = await INVOKE[name](store, db, id).then(
          (value) => ({ value }),
          (err: unknown) => ({ err }),
        );
        const row = await store.require(id);
        const events = await store.events(id, 10_000);
        const what = `${name} from ${key(at)}`;
        checked++;
        if (want) {
          assert.ok(!('err' in outcome), `${what} is allowed: ${'err' in outcome ? String(outcome.err) : ''}`);
          if (PICKS_ITS_SECTOR.includes(name)) assert.notEqual(outcome.value, undefined, `${what} picked the sector`);
          assert.deepEqual({ plan: row.plan, stage: row.stage }, want, what);
          assert.equal(row.status, STATUS_OF[want.stage], `${what}: status follows the stage`);
          // Life events (a fault declared, an extension sent) are each an event of their own, logged every time.
          if (isDeepStrictEqual(row, startRow) && !(LIFE_TRANSITIONS as readonly TransitionName[]).includes(name)) {
            // Asked for what the walk made so already (a second RebuildRequested): nothing is written.
            assert.equal(events.length, eventsBefore, `${what} changed nothing and logged nothing`);
            continue;
          }
          assert.equal(events.length, eventsBefore + 1, `${what} logs one event`);
          assert.deepEqual(
            { worker: events.at(-1)?.worker_instance, prev: events.at(-1)?.prev, event: events.at(-1)?.event, next: events.at(-1)?.next },
            { worker: 'manager', prev: key(at), event: name, next: key(want) },
          );
        } else {
          if (PICKS_ITS_SECTOR.includes(name)) {
            assert.ok(!('err' in outcome) && outcome.value === undefined, `${what} finds no sector to take`);
          } else {
            assert.ok('err' in outcome && outcome.err instanceof RpcError, `${what} is refused with an RPC error, got ${JSON.stringify(outcome)}`);
            const refusal = `${name} refused: sector s-t0${id.Miner}-1 is ${at.stage} \\(${STATUS_OF[at.stage]}\\) under the ${at.plan} plan; `;
            assert.match(outcome.err.message, new RegExp(`^${refusal}${name} (applies to a ${at.plan} sector only when it is [a-z_ ]+|never applies to a sector under the ${at.plan} plan)`));
          }
          assert.deepEqual(row, startRow, `${what} left the record as it was`);
          assert.equal(events.length, eventsBefore, `${what} logged nothing`);
        }
      }
    }
    assert.equal(checked, positions().length * TRANSITION_NAMES.length);
  });

  it('refuses a second allocation of a number, and unknown sectors with the not-found error', async () => {
    const { store } = await newStore();
    const id = { Miner: 1000, Number: 7 };
    await store.allocate(id, 5);
    await assert.rejects(store.allocate(id, 5), /SectorAllocated refused: sector s-t01000-7 is allocated \(sealing\) under the sealer plan; SectorAllocated never applies to a sector under the sealer plan that exists already$/);
    await assert.rejects(store.assignTicket({ Miner: 1000, Number: 8 }, TICKET), (err: unknown) => err instanceof RpcError && err.code === 11001);
  });

  it('writes and logs a transition that changes nothing only once (a worker polling for deals, a repeated abort request)', async () => {
    const { store } = await newStore();
    const id = { Miner: 1000, Number: 9 };
    await store.allocate(id, 5);
    for (let i = 0; i < 3; i++) await store.acquireDeals(id, async () => null);
    for (let i = 0; i < 3; i++) await store.requestAbort(id, 'operator says no');
    await store.requestAbort(id, 'changed my mind about why');
    const events = (await store.events(id, 100)).map((e) => [e.event, e.failure_desc]);
    assert.deepEqual(events, [
      ['SectorAllocated', null],
      ['DealsAcquired', '0 piece(s)'],
      ['AbortRequested', 'operator says no'],
      ['AbortRequested', 'changed my mind about why'],
    ]);
  });

  it('checks JSON columns against their schema when written, and names the sector and column of a corrupt one when read', async () => {
    const { store, db } = await newStore();
    const id = { Miner: 1000, Number: 1 };
    await store.allocate(id, 5);
    await assert.rejects(store.assignTicket(id, { Ticket: 'not base64!', Epoch: 1 }), /expected base64/);
    assert.equal((await store.require(id)).ticket, null, 'nothing written');
    await db.updateTable('sectors').set({ pre: '{"CommR": [1]}' }).where('number', '=', 1).execute();
    await assert.rejects(store.require(id), /sector s-t01000-1: its pre column does not hold what the manager wrote/);
  });

  it('an abort gives the pieces back and frees the reservation in the transaction that aborts the sector', async () => {
    const { store, db } = await newStore();
    const id = { Miner: 1000, Number: 3 };
    await store.allocate(id, 5);
    await db.insertInto('pieces').values({ cid: 'baga6ea4seaqtest', miner: null, padded_size: 1024, payload_size: 600, status: 'assigned', sector_miner: 1000, sector_number: 3, imported_at: 1 }).execute();
    await db.insertInto('reservations').values({ store: 'local', miner: 1000, number: 3, size: 2048, at: 1 }).execute();
    assert.deepEqual(await store.abort(id, 'given up'), { piecesReleased: 1 });
    assert.equal((await db.selectFrom('pieces').select('status').executeTakeFirstOrThrow()).status, 'queued');
    assert.equal((await db.selectFrom('reservations').selectAll().execute()).length, 0);
    const row = await store.require(id);
    assert.deepEqual([row.status, row.abort_reason], ['aborted', 'given up']);
    assert.equal(await store.abort(id, 'again', { unlessEnded: true }), null, 'an ended sector is left alone when asked to');
  });
});

describe('migration 0004 (sector stage)', () => {
  const onPostgres = testStore() === 'postgres' ? 'the older database is built as a SQLite file' : false;
  it('gives every sector of an older database the stage its columns showed, and keeps the rebuild queue', { skip: onPostgres }, async () => {
    const home = tempDir('lifecycle-migration');
    const legacy = new Kysely<Record<string, Record<string, unknown>>>({ dialect: new SqliteDialect({ database: new SqliteDatabase(join(home, DATABASE_FILE)) }) });
    const before0004 = Object.fromEntries(Object.entries(migrations('sqlite')).filter(([name]) => name < '0004'));
    const migrated = await new Migrator({ db: legacy, provider: { getMigrations: async () => before0004 } }).migrateToLatest();
    assert.equal(migrated.error, undefined);
    const upgrade = (submitted: boolean) => JSON.stringify({ ...UPGRADE, ...(submitted ? { submitted: SUBMITTED } : {}) });
    const rows: [Record<string, unknown>, SectorStage][] = [
      [{ status: 'aborted', plan: 'sealer', pre: JSON.stringify(PRE) }, 'aborted'],
      [{ status: 'finalized', plan: 'sealer', pre: JSON.stringify(PRE), rebuild_requested: 1 }, 'rebuild_queued'],
      [{ status: 'finalized', plan: 'snapup', upgrade: upgrade(true), upgrade_message: 'm' }, 'finalized'],
      [{ status: 'sealing', plan: 'rebuild', pre: JSON.stringify(PRE), prove_message: 'm' }, 'rebuilding'],
      [{ status: 'sealing', plan: 'snapup', upgrade: upgrade(true), upgrade_message: 'm' }, 'upgrade_sent'],
      [{ status: 'sealing', plan: 'snapup', upgrade: upgrade(true) }, 'upgrade_queued'],
      [{ status: 'sealing', plan: 'snapup', upgrade: upgrade(false) }, 'upgrading'],
      [{ status: 'sealing', plan: 'sealer', pre: JSON.stringify(PRE), pre_message: 'm', proof: 'AAAA', prove_message: 'm' }, 'proof_sent'],
      [{ status: 'sealing', plan: 'sealer', pre: JSON.stringify(PRE), pre_message: 'm', proof: 'AAAA' }, 'proof_queued'],
      [{ status: 'sealing', plan: 'sealer', pre: JSON.stringify(PRE), pre_message: 'already-on-chain' }, 'precommit_sent'],
      [{ status: 'sealing', plan: 'sealer', pre: JSON.stringify(PRE) }, 'precommit_queued'],
      [{ status: 'sealing', plan: 'sealer', ticket: JSON.stringify(TICKET) }, 'allocated'],
    ];
    for (const [i, [row]] of rows.entries()) {
      await legacy.insertInto('sectors').values({ miner: 1000, number: i + 1, proof_type: 5, created_at: 1, updated_at: 1, ...row }).execute();
    }
    await legacy.destroy();

    const db = await openDatabase(home, { kind: 'sqlite' }, silent);
    try {
      const store = new SectorStore(db, { pieces: new PieceQueue(db, home), stores: new PersistStores(db, [], 'sqlite') }, 'sqlite');
      const stages = (await store.list({})).map((r) => [Number(r.number), r.stage]);
      assert.deepEqual(stages, rows.map(([, stage], i) => [i + 1, stage]));
      assert.equal((await store.startRebuild(1000))?.number, 2, 'the sector queued for a rebuild is still queued');
    } finally {
      await db.destroy();
    }
  });
});
