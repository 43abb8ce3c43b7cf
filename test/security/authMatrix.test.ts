import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { RPC_CODES } from '../../src/core/rpc/errors.js';
import { allows, type Permission } from '../../src/core/rpc/server.js';
import { WorkerControlMethods } from '../../src/core/wire/workerControl.js';
import { createToken, loadSecret } from '../../src/manager/auth.js';
import type { ThreadController } from '../../src/worker/controller.js';
import { controlMethods } from '../../src/worker/controlServer.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { registeredManagerMethods, startTestManager, type TestManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

/**
 * What each manager method may be called with: the weakest permission that passes. Compared with the
 * methods the daemon registers, so a new method fails here until someone decides (and writes down) who may
 * call it.
 */
const MANAGER_TABLE: Record<string, Permission> = {
  'Venus.AllocateSector': 'write',
  'Venus.AcquireDeals': 'write',
  'Venus.AssignTicket': 'write',
  'Venus.SubmitPreCommit': 'write',
  'Venus.PollPreCommitState': 'write',
  'Venus.SubmitPersisted': 'write',
  'Venus.SubmitPersistedEx': 'write',
  'Venus.WaitSeed': 'write',
  'Venus.SubmitProof': 'write',
  'Venus.PollProofState': 'write',
  'Venus.ReportState': 'write',
  'Venus.ReportFinalized': 'write',
  'Venus.ReportAborted': 'write',
  'Venus.AllocateSnapUpSector': 'write',
  'Venus.AllocateSanpUpSector': 'write',
  'Venus.SubmitSnapUpProof': 'write',
  'Venus.AllocateRebuildSector': 'write',
  'Venus.WorkerPing': 'write',
  'Venus.StoreReserveSpace': 'write',
  'Venus.StoreBasicInfo': 'write',
  'SealFleet.SectorsList': 'read',
  'SealFleet.SectorState': 'read',
  'SealFleet.SectorLog': 'read',
  'SealFleet.SectorAbort': 'admin',
  'SealFleet.SectorRebuild': 'admin',
  'SealFleet.WorkerList': 'read',
  'SealFleet.WorkerFind': 'read',
  'SealFleet.WorkerForget': 'admin',
  'SealFleet.DealsImport': 'admin',
  'SealFleet.PiecesList': 'read',
  'SealFleet.AuthRotateSecret': 'admin',
  'SealFleet.AuthVerify': 'write',
  'SealFleet.AuthControlToken': 'admin',
  'SealFleet.DashboardSession': 'read',
  'SealFleet.DashboardOverview': 'read',
  'SealFleet.DashboardPipeline': 'read',
  'SealFleet.DashboardSector': 'read',
  'SealFleet.DashboardWorker': 'read',
  'SealFleet.DashboardThreadLog': 'read',
  'SealFleet.WorkerPause': 'admin',
  'SealFleet.WorkerResume': 'admin',
  'SealFleet.WorkerDrain': 'admin',
  'SealFleet.ProvingInfo': 'read',
  'SealFleet.ProvingDeadlines': 'read',
  'SealFleet.ProvingFaults': 'read',
  'SealFleet.ProvingSubmissions': 'read',
  'SealFleet.ProvingCheck': 'read',
  'SealFleet.SectorsExtend': 'admin',
  'SealFleet.SectorsTerminate': 'admin',
  'SealFleet.SectorsExpired': 'read',
  'SealFleet.SectorsCheckExpire': 'read',
  'Venus.WdPoStAllocateJobs': 'write',
  'Venus.WdPoStHeartbeatJobs': 'write',
  'Venus.WdPoStFinishJob': 'write',
  'SealFleet.WdPoStJobs': 'read',
  'SealFleet.WdPoStResetJob': 'admin',
  'SealFleet.WdPoStRemoveJob': 'admin',
};

/** More params than any method takes: every call that passes auth is refused by validation and changes nothing. */
const INVALID_PARAMS = Array<null>(10).fill(null);

type Outcome = 'refused-token' | 'too-weak' | 'passed';

async function call(url: string, methodName: string, token: string | undefined): Promise<Outcome> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: methodName, params: INVALID_PARAMS }),
  });
  const body = (await res.json()) as { error?: { code: number; message: string } };
  if (res.status === 401) return 'refused-token';
  assert.equal(res.status, 200, `${methodName}: HTTP ${res.status}`);
  if (body.error?.code === RPC_CODES.Unauthorized) return 'too-weak';
  // Anything else means auth passed; the params were bad on purpose.
  assert.equal(body.error?.code, RPC_CODES.InvalidParams, `${methodName}: ${JSON.stringify(body)}`);
  return 'passed';
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('auth matrix', () => {
  let m: TestManager;
  let locked: TestWorker;
  let open: TestWorker;
  /** Each credential, and the permission it must be given (null: the token itself is refused). */
  let credentials: { name: string; token: string | undefined; perm: Permission | null }[];
  const CONTROL_TOKEN = `ctl-${randomBytes(8).toString('hex')}`;

  before(async () => {
    const home = tempDir('matrix');
    // No sector to hand out: the workers stay idle while they are called.
    m = await startTestManager(home, { managerToml: defaultDevnetConfig(join(home, 'persist')).replace('enabled = true', 'enabled = false') });
    const secret = loadSecret(home, false);
    const all = ['read', 'write', 'sign', 'admin'];
    credentials = [
      { name: 'no token', token: undefined, perm: null },
      { name: 'garbage', token: 'garbage', perm: null },
      { name: 'another secret', token: await createToken(randomBytes(32), 'admin'), perm: null },
      { name: 'alg none', token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ Allow: all })}.`, perm: null },
      {
        name: 'expired',
        token: await new SignJWT({ Allow: all }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(Math.floor(Date.now() / 1000) - 60).sign(secret),
        perm: null,
      },
      { name: 'read', token: await createToken(secret, 'read'), perm: 'read' },
      { name: 'write', token: await createToken(secret, 'write'), perm: 'write' },
      { name: 'sign', token: await createToken(secret, 'sign'), perm: 'sign' },
      { name: 'admin', token: await createToken(secret, 'admin'), perm: 'admin' },
      { name: 'worker-bound write', token: await createToken(secret, 'write', { worker: 'matrix-worker' }), perm: 'write' },
    ];
    const lockedToml = await writeWorkerConfig(join(home, 'locked'), m, { threads: [{ plan: 'sealer' }] });
    writeFileSync(lockedToml, readFileSync(lockedToml, 'utf8').replace(/^rpc_server\.port = (\d+)$/m, `$&\nrpc_server.token = "${CONTROL_TOKEN}"`));
    [locked, open] = await Promise.all([
      startTestWorker(lockedToml),
      startTestWorker(await writeWorkerConfig(join(home, 'open'), m, { threads: [{ plan: 'sealer' }] })),
    ]);
  });
  after(async () => {
    await Promise.all([locked?.daemon.kill(), open?.daemon.kill()]);
    await m?.daemon.kill();
  });

  it('the manager registers exactly the methods of the table, each with its permission', () => {
    const registered = registeredManagerMethods();
    assert.deepEqual(Object.keys(registered).sort(), Object.keys(MANAGER_TABLE).sort());
    for (const [name, def] of Object.entries(registered)) assert.equal(def.perm, MANAGER_TABLE[name], name);
  });

  it('every manager method, with every credential, does what the table allows', async () => {
    const url = `${m.url}/rpc/v0`;
    const wrong: string[] = [];
    for (const name of Object.keys(registeredManagerMethods())) {
      const needed = MANAGER_TABLE[name] as Permission;
      for (const c of credentials) {
        const expected: Outcome = c.perm === null ? 'refused-token' : allows(c.perm, needed) ? 'passed' : 'too-weak';
        const got = await call(url, name, c.token);
        if (got !== expected) wrong.push(`${name} with ${c.name}: expected ${expected}, got ${got}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('the piece store needs a valid token of any permission', async () => {
    for (const c of credentials) {
      const res = await fetch(`${m.url}/piecestore/not-a-cid`, { headers: c.token === undefined ? {} : { authorization: `Bearer ${c.token}` } });
      await res.text();
      assert.equal(res.status, c.perm === null ? 401 : 400, c.name);
    }
  });

  it("a worker's control API with rpc_server.token takes that token and the manager's tokens for what they grant; on loopback without one, anyone", async () => {
    const secret = loadSecret(m.home, false);
    // What each credential may do on the worker: steer (admin), read, or nothing (refused).
    const atWorker: { name: string; token: string | undefined; perm: Permission | null }[] = [
      ...credentials.map((c) => ({ ...c, perm: c.perm === null ? null : c.perm === 'admin' ? ('admin' as const) : ('read' as const) })),
      { name: 'a wrong token', token: `${CONTROL_TOKEN}x`, perm: null },
      { name: 'rpc_server.token', token: CONTROL_TOKEN, perm: 'admin' },
      { name: 'a control token for this worker', token: await createToken(secret, 'read', { control: 'test-worker' }), perm: 'admin' },
      { name: 'a control token for another worker', token: await createToken(secret, 'read', { control: 'other-worker' }), perm: 'read' },
      { name: 'an expired control token', token: await createToken(secret, 'read', { control: 'test-worker', expiresInMs: -60_000 }), perm: null },
    ];
    const table = controlMethods({} as ThreadController, { name: 'test-worker', version: 'v' });
    assert.deepEqual(Object.keys(table).sort(), Object.values(WorkerControlMethods).sort());
    const wrong: string[] = [];
    for (const [name, def] of Object.entries(table)) {
      for (const c of atWorker) {
        const expected: Outcome = c.perm === null ? 'refused-token' : allows(c.perm, def.perm) ? 'passed' : 'too-weak';
        const got = await call(locked.control.url, name, c.token);
        if (got !== expected) wrong.push(`${name} (token set) with ${c.name}: expected ${expected}, got ${got}`);
      }
      for (const token of [undefined, 'anything']) {
        const got = await call(open.control.url, name, token);
        if (got !== 'passed') wrong.push(`${name} (loopback, no token) with ${token ?? 'no token'}: expected passed, got ${got}`);
      }
    }
    assert.deepEqual(wrong, []);
  });
});
