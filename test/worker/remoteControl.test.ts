import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError, RpcTransportError } from '../../src/core/rpc/errors.js';
import type { TokenGrant } from '../../src/core/wire/tokenGrant.js';
import type { ThreadEvent, WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import { createToken, loadSecret } from '../../src/manager/auth.js';
import { ControlAuth } from '../../src/worker/controlAuth.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

interface Pinged {
  Name: string;
  Dest: string;
}

/**
 * A worker config whose control API listens on every interface, with no rpc_server.token: only tokens the
 * manager vouches for get in. `worker` lines replace the helper's name.
 */
async function wildcardWorker(dir: string, m: TestManager, worker: string, opts: { mock?: string; token?: string } = {}): Promise<string> {
  const path = await writeWorkerConfig(dir, m, { threads: [{ plan: 'sealer' }], ...(opts.mock ? { mock: opts.mock } : {}) });
  let text = readFileSync(path, 'utf8').replace('name = "test-worker"\n', `rpc_server.host = "0.0.0.0"\n${worker}`);
  if (opts.token !== undefined) text = text.replace(/^token = ".*"$/m, `token = "${opts.token}"`);
  writeFileSync(path, text);
  return path;
}

/** A raw call to a control API, so the HTTP status is seen too. */
async function rawCall(url: string, method: string, params: unknown[], token?: string): Promise<{ status: number; body: { result?: unknown; error?: { code: number; message: string } } }> {
  const res = await fetch(`${url}/rpc/v0`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return { status: res.status, body: (await res.json()) as { result?: unknown; error?: { code: number; message: string } } };
}

/** How many times the manager answered `method`, from its own metrics. */
async function managerCalls(m: TestManager, method: string): Promise<number> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^sealfleet_rpc_duration_seconds_count\\{method="${method.replace(/\./g, '\\.')}",outcome="\\w+"\\} (\\d+)$`, 'gm'))) {
    total += Number(match[1]);
  }
  return total;
}

describe('remote worker control', () => {
  let m: TestManager;
  let secret: Uint8Array;
  let adminToken: string;
  /** Listens on 0.0.0.0, advertises the address of its connection to the manager; pc2 always fails, so its thread pauses. */
  let a: TestWorker;
  let aConfig: string;
  /** Listens on 0.0.0.0, advertises 127.0.0.2, has no name (so takes its address towards the manager), and an rpc_server.token. */
  let b: TestWorker;
  const B_TOKEN = `b-${randomBytes(8).toString('hex')}`;
  const util = (...args: string[]) => runCli(MANAGER_BIN, ['util', 'worker', ...args, '--home', m.home]);
  const threadsOf = (w: TestWorker, token: string) => new RpcClient({ url: w.control.url, token, timeoutMs: 10_000 }).call<WorkerThreadInfo[]>('VenusWorker.WorkerList');

  before(async () => {
    const home = tempDir('remote');
    m = await startTestManager(home);
    secret = loadSecret(home, false);
    adminToken = readFileSync(join(home, 'token'), 'utf8').trim();
    // Worker a runs with a write token bound to its name, as a deployed worker does.
    aConfig = await wildcardWorker(join(home, 'a'), m, 'name = "remote-a"\n', {
      mock: 'fail.pc2 = 1.0',
      token: await createToken(secret, 'write', { worker: 'remote-a' }),
    });
    const bConfig = await wildcardWorker(join(home, 'b'), m, `rpc_server.advertise = "127.0.0.2"\nrpc_server.token = "${B_TOKEN}"\n`, { mock: 'stage_times.pc1 = "1h"' });
    [a, b] = await Promise.all([startTestWorker(aConfig), startTestWorker(bConfig)]);
  });
  after(async () => {
    await Promise.all([a?.daemon.kill(), b?.daemon.kill()]);
    await m?.daemon.kill();
  });

  it('pings with an address the manager can dial: the connection to the manager, or rpc_server.advertise', async () => {
    const aPort = new URL(a.control.url).port;
    const bPort = new URL(b.control.url).port;
    const pinged = await eventually('both workers pinged', async () => {
      const rows = await m.call<Pinged[]>('SealFleet.WorkerList');
      return rows.length === 2 ? rows : undefined;
    });
    // b has no [worker] name: damocles' default, the local address that routes to the manager.
    assert.deepEqual(pinged.map((w) => [w.Name, w.Dest]), [['127.0.0.1', `127.0.0.2:${bPort}`], ['remote-a', `127.0.0.1:${aPort}`]]);
    const list = await util('list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^127\\.0\\.0\\.1 +127\\.0\\.0\\.2:${bPort} `, 'm'));
    assert.match(list.stdout, new RegExp(`^remote-a +127\\.0\\.0\\.1:${aPort} `, 'm'));
  });

  it('util worker info/pause/resume/log reach a worker beyond loopback with a control token', async () => {
    const paused = await eventually('thread of remote-a paused by the pc2 failure', async () => {
      const [t] = await threadsOf(a, adminToken);
      return t?.thread_state.state === 'Paused' ? t : undefined;
    }, 30_000);
    assert.equal(paused.job_state, 'PC1Done');

    const info = await util('info', 'remote-a', '--json');
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as WorkerThreadInfo[])[0]?.job_state, 'PC1Done');
    const again = await util('pause', 'remote-a', '0');
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'remote-a #0: already paused\n');

    const resumed = await util('resume', 'remote-a', '0', 'TreeDBuilt');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.stdout, 'remote-a #0: resumed in state TreeDBuilt\n');
    const log = await util('log', 'remote-a', '0', '--json');
    assert.equal(log.code, 0, log.stderr);
    assert.ok((JSON.parse(log.stdout) as ThreadEvent[]).some((e) => e.event === 'SetState' && e.from === 'PC1Done' && e.to === 'TreeDBuilt'), log.stdout);

    // The fresh ticket and PC1 lead to the failing pc2 again; then the sector is dropped.
    const sector = await eventually('thread paused again after the resume', async () => {
      const [t] = await threadsOf(a, adminToken);
      return t?.thread_state.state === 'Paused' && t.job_state === 'PC1Done' ? (t.job_id ?? undefined) : undefined;
    }, 30_000);
    assert.equal((await util('pause', 'remote-a', '0')).code, 0);
    const drained = await rawCall(a.control.url, 'VenusWorker.WorkerDrain', [0], adminToken);
    assert.equal(drained.body.result, 1);
    const aborted = await util('resume', 'remote-a', '0', 'Aborted');
    assert.equal(aborted.code, 0, aborted.stderr);
    await eventually('sector aborted at the manager', async () => {
      const rows = await m.call<{ Sector: string; Status: string }[]>('SealFleet.SectorsList', [{ Status: 'aborted' }]);
      return rows.some((s) => s.Sector === sector) ? true : undefined;
    });
  });

  it('reaches a worker at its advertised address, by its default name', async () => {
    const paused = await util('pause', '127.0.0.1', '0');
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout, '127.0.0.1 #0: pause requested\n');
    const info = await util('info', '127.0.0.1', '--json');
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as WorkerThreadInfo[]).length, 1);
  });

  it('refuses callers without a token beyond loopback, from loopback too', async () => {
    for (const w of [a, b]) {
      const { status, body } = await rawCall(w.control.url, 'VenusWorker.WorkerList', []);
      assert.equal(status, 401);
      assert.match(body.error?.message ?? '', /requires a bearer token: its rpc_server\.token, or a token of its manager/);
    }
  });

  it("takes the manager's tokens for what they grant: a worker's write token reads but does not steer", async () => {
    const write = await createToken(secret, 'write', { worker: 'remote-b' });
    assert.equal((await threadsOf(a, write)).length, 1);
    const pause = await rawCall(a.control.url, 'VenusWorker.WorkerPause', [0], write);
    assert.equal(pause.status, 200);
    assert.equal(pause.body.error?.code, RPC_CODES.Unauthorized);
    assert.match(pause.body.error?.message ?? '', /missing permission to invoke 'VenusWorker\.WorkerPause'/);

    const controlB = await createToken(secret, 'read', { control: '127.0.0.1' });
    assert.equal((await rawCall(a.control.url, 'VenusWorker.WorkerPause', [0], controlB)).body.error?.code, RPC_CODES.Unauthorized, "b's control token does not steer a");
    assert.equal((await rawCall(b.control.url, 'VenusWorker.WorkerPause', [0], controlB)).body.error, undefined);

    for (const [what, token, reason] of [
      ['garbage', 'garbage', /wrong token: neither this worker's rpc_server\.token nor a token of its manager/],
      ['expired', await createToken(secret, 'admin', { expiresInMs: -60_000 }), /refused by the manager: token expired/],
      ['another secret', await createToken(randomBytes(32), 'admin'), /refused by the manager: token signature invalid/],
    ] as const) {
      const { status, body } = await rawCall(a.control.url, 'VenusWorker.WorkerList', [], token);
      assert.equal(status, 401, what);
      assert.match(body.error?.message ?? '', reason, what);
      assert.ok(!(body.error?.message ?? '').includes(token), `${what}: the token is not echoed`);
    }
  });

  it('still takes rpc_server.token, and a flood of one bad token costs the manager one check', async () => {
    const client = new RpcClient({ url: b.control.url, token: B_TOKEN });
    assert.equal((await client.call<WorkerThreadInfo[]>('VenusWorker.WorkerList')).length, 1);
    assert.equal(await client.call('VenusWorker.WorkerDrain', [0]), 1);

    const forged = await createToken(randomBytes(32), 'admin');
    const before = await managerCalls(m, 'SealFleet.AuthVerify');
    const answers = await Promise.all(Array.from({ length: 40 }, () => rawCall(b.control.url, 'VenusWorker.WorkerList', [], forged)));
    for (let i = 0; i < 10; i++) answers.push(await rawCall(b.control.url, 'VenusWorker.WorkerList', [], forged));
    assert.ok(answers.every((r) => r.status === 401));
    assert.equal((await managerCalls(m, 'SealFleet.AuthVerify')) - before, 1);
  });

  it('refuses a name no worker pinged with, listing the known ones, and an index out of range with the valid ones', async () => {
    const unknown = await util('resume', 'nosuchworker', '0');
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'error: no worker named "nosuchworker" has pinged this manager; known workers: 127.0.0.1, remote-a\n');
    for (const args of [['pause', 'remote-a', '99'], ['resume', 'remote-a', '99', 'Aborted'], ['log', 'remote-a', '99']]) {
      const bad = await util(...args);
      assert.equal(bad.code, 1, args.join(' '));
      assert.equal(bad.stderr, 'error: thread #99 not found: worker remote-a has thread 0\n', args.join(' '));
    }
  });

  it("the worker's own CLI reads with the worker's manager token, and steers with SEALFLEET_WORKER_TOKEN", async () => {
    const list = await runCli(WORKER_BIN, ['worker', '-c', aConfig, 'list', '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal((JSON.parse(list.stdout) as WorkerThreadInfo[]).length, 1);
    const refused = await runCli(WORKER_BIN, ['worker', '-c', aConfig, 'drain', '--index', '0']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: missing permission to invoke 'VenusWorker\.WorkerDrain' \(need 'write'\): this worker's own manager token may only read its threads; to pause, resume or drain, set SEALFLEET_WORKER_TOKEN to a manager admin token or configure rpc_server\.token\n$/);
    const steered = await runCli(WORKER_BIN, ['worker', '-c', aConfig, 'drain', '--index', '0'], { SEALFLEET_WORKER_TOKEN: adminToken });
    assert.equal(steered.code, 0, steered.stderr);
    assert.equal(steered.stdout, 'draining 1 thread: each finishes its current sector and takes no new one\n');
  });

  it('says a token cannot be checked while the manager is down, and that rpc_server.token still works', async () => {
    await m.daemon.kill();
    const fresh = await createToken(secret, 'admin', { expiresInMs: 600_000 });
    const { status, body } = await rawCall(b.control.url, 'VenusWorker.WorkerList', [], fresh);
    assert.equal(status, 401);
    assert.match(body.error?.message ?? '', /^token refused: the token cannot be checked now: asking the manager failed \(.*\); this worker's rpc_server\.token works without the manager$/);
    assert.equal((await new RpcClient({ url: b.control.url, token: B_TOKEN }).call<WorkerThreadInfo[]>('VenusWorker.WorkerList')).length, 1);
    await assert.rejects(threadsOf(b, fresh), (e: RpcError) => e.code === RPC_CODES.Unauthorized);
  });
});

describe("the control API's memory of manager verdicts", () => {
  const jwt = (n: number): string => `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(`{"n":${n}}`).toString('base64url')}.sig`;
  /** A manager stand-in that counts its checks; `answer` decides each one. */
  const counting = (answer: (token: string) => TokenGrant) => {
    const calls: string[] = [];
    return { calls, check: async (token: string) => (calls.push(token), answer(token)) };
  };
  const grant = (over: Partial<TokenGrant> = {}): TokenGrant => ({ Perm: 'write', Worker: null, Control: null, Expires: null, ...over });

  it('asks once per token while the verdict holds, never past the token expiry, and forgets the oldest beyond its capacity', async () => {
    const soon = Date.now() / 1000 + 0.3;
    const manager = counting((t) => grant(t === jwt(2) ? { Expires: soon } : {}));
    const auth = new ControlAuth({ name: 'w', localToken: null, checkWithManager: manager.check, capacity: 3 });
    const callers = await Promise.all(Array.from({ length: 20 }, () => auth.authorize(jwt(1))));
    assert.ok(callers.every((c) => c.perm === 'read'));
    assert.equal(manager.calls.length, 1, 'concurrent calls with one token share one check');
    await auth.authorize(jwt(2));
    await eventually('the expiring token is asked about again', async () => {
      await auth.authorize(jwt(2));
      return manager.calls.filter((t) => t === jwt(2)).length === 2 ? true : undefined;
    });
    for (let n = 3; n < 10; n++) await auth.authorize(jwt(n));
    assert.equal(auth.remembered, 3);
  });

  it('grants steering to manager admin tokens and to control tokens naming this worker only', async () => {
    const manager = counting((t) => (t === jwt(1) ? grant({ Perm: 'admin' }) : t === jwt(2) ? grant({ Perm: 'read', Control: 'w' }) : grant({ Perm: 'read', Control: 'other' })));
    const auth = new ControlAuth({ name: 'w', localToken: 'local', checkWithManager: manager.check });
    assert.equal((await auth.authorize(jwt(1))).perm, 'admin');
    assert.equal((await auth.authorize(jwt(2))).perm, 'admin');
    assert.equal((await auth.authorize(jwt(3))).perm, 'read');
    assert.deepEqual(await auth.authorize('local'), { perm: 'admin', credential: 'rpc_server.token', worker: null });
    assert.equal(manager.calls.length, 3, 'the local token is never sent to the manager');
  });

  it('remembers a refusal briefly, and a manager that did not answer not at all', async () => {
    let down = true;
    const calls: string[] = [];
    const auth = new ControlAuth({
      name: 'w',
      localToken: null,
      refusedMs: 60_000,
      checkWithManager: async (token) => {
        calls.push(token);
        if (down) throw new RpcTransportError('SealFleet.AuthVerify to http://manager/rpc/v0 failed: ECONNREFUSED');
        throw new RpcError(RPC_CODES.Application, 'token expired');
      },
    });
    await assert.rejects(auth.authorize(jwt(1)), /^Error: the token cannot be checked now: asking the manager failed \(.*ECONNREFUSED\); this worker's rpc_server\.token works without the manager$/);
    down = false;
    for (let i = 0; i < 5; i++) await assert.rejects(auth.authorize(jwt(1)), /^Error: refused by the manager: token expired$/);
    assert.equal(calls.length, 2);
    await assert.rejects(auth.authorize('not a jwt'), /wrong token/);
    await assert.rejects(auth.authorize(`${jwt(1)}${'x'.repeat(5000)}`), /wrong token/);
    assert.equal(calls.length, 2, 'what cannot be a manager token is refused without asking');
  });
});
