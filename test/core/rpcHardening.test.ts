import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { RPC_CODES } from '../../src/core/rpc/errors.js';
import { foreignHost } from '../../src/core/rpc/origin.js';
import { method, RpcServer, serveHttp } from '../../src/core/rpc/server.js';
import { BOUNDS } from '../../src/core/wire/bounds.js';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { ManagerClient } from '../../src/worker/managerClient.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';

interface Answer {
  status: number;
  contentType: string;
  json: unknown;
}

/** POSTs (or GETs, without a body) raw bytes with exactly the given headers; the answer's JSON if it is JSON. */
function send(url: string, body: string | Buffer | null, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: body === null ? 'GET' : 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: the test looks at the text
        }
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), json });
      });
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

const errorOf = (json: unknown): { code: number; message: string } => {
  assert.ok(typeof json === 'object' && json !== null && !Array.isArray(json) && 'error' in json, `expected one error object, got ${JSON.stringify(json).slice(0, 300)}`);
  return (json as { error: { code: number; message: string } }).error;
};
const call = (m: string, params: unknown[] = [], id: unknown = 1) => JSON.stringify({ jsonrpc: '2.0', id, method: m, params });
const deep = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;

describe('RPC server hardening (real HTTP)', () => {
  let url: string;
  let base: string;
  let close: () => Promise<void>;
  let ran = 0;
  const order: string[] = [];

  before(async () => {
    const server = new RpcServer({ maxBatch: 5 });
    server.register({
      'Test.Add': method([z.number(), z.number()], (a, b) => a + b),
      // A call that holds the event loop for a while, like a large list used to.
      'Test.Busy': method([], () => {
        ran++;
        const until = performance.now() + 100;
        while (performance.now() < until);
        order.push('busy');
        return ran;
      }),
    });
    const http = await serveHttp('127.0.0.1:0', {
      '/rpc/v0': (req, res) => server.handle(req, res),
      '/healthz': (_req, res) => {
        order.push('healthz');
        res.writeHead(200).end('ok\n');
      },
      '/boom': () => {
        throw new Error('secret detail');
      },
      '/later': async () => {
        await Promise.resolve();
        throw new Error('secret detail');
      },
    });
    base = http.url;
    url = `${http.url}/rpc/v0`;
    close = http.close;
  });
  after(() => close());

  it('answers an empty batch with one Invalid Request object (JSON-RPC 2.0 §6)', async () => {
    const res = await send(url, '[]');
    assert.equal(errorOf(res.json).code, RPC_CODES.InvalidRequest);
    assert.match(errorOf(res.json).message, /empty batch/);
  });

  it('refuses a batch over the cap before running any of it', async () => {
    ran = 0;
    const res = await send(url, JSON.stringify(Array.from({ length: 6 }, (_, i) => JSON.parse(call('Test.Busy', [], i)) as unknown)));
    assert.equal(res.status, 400);
    assert.match(errorOf(res.json).message, /batch of 6 calls exceeds the limit of 5/);
    assert.equal(ran, 0);
  });

  it('runs batch items one after another and keeps /healthz answering meanwhile', async () => {
    ran = 0;
    order.length = 0;
    const batch = send(url, JSON.stringify(Array.from({ length: 5 }, (_, i) => JSON.parse(call('Test.Busy', [], i)) as unknown)));
    await eventually('the batch started', async () => (ran > 0 ? true : undefined));
    assert.equal((await send(`${base}/healthz`, null)).status, 200);
    const replies = (await batch).json as { id: number; result: number }[];
    assert.deepEqual(replies.map((r) => r.result), [1, 2, 3, 4, 5]);
    assert.ok(order.indexOf('healthz') < order.lastIndexOf('busy'), `healthz waited for the whole batch: ${order.join(' ')}`);
  });

  it('answers malformed bodies with JSON-RPC errors, never a 500', async () => {
    const cases: [string, string | Buffer, number][] = [
      ['null', 'null', RPC_CODES.InvalidRequest],
      ['[null]', '[null]', RPC_CODES.InvalidRequest],
      ['a number', '42', RPC_CODES.InvalidRequest],
      ['a string', '"Test.Add"', RPC_CODES.InvalidRequest],
      ['an object id', call('Test.Add', [1, 2], { x: 1 }), RPC_CODES.InvalidRequest],
      ['an id nested 10,000 deep', call('Test.Add', [1, 2], 'ID').replace('"ID"', deep(10_000)), RPC_CODES.InvalidRequest],
      ['params nested 100,000 deep', call('Test.Add', [1, 2]).replace('[1,2]', deep(100_000)), RPC_CODES.InvalidRequest],
      ['a wrong version', JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'Test.Add', params: [1, 2] }), RPC_CODES.InvalidRequest],
      ['a method that is not a string', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 7, params: [] }), RPC_CODES.InvalidRequest],
      ['invalid UTF-8', Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"Test.Add","params":["'), Buffer.from([0xe0, 0xa4]), Buffer.from('"]}')]), RPC_CODES.ParseError],
      ['truncated JSON', '{"jsonrpc":"2.0","id":1,', RPC_CODES.ParseError],
    ];
    for (const [what, body, code] of cases) {
      const res = await send(url, body);
      assert.ok(res.status === 200 || res.status === 400, `${what}: HTTP ${res.status}`);
      assert.match(res.contentType, /application\/json/, what);
      const replies = Array.isArray(res.json) ? (res.json as unknown[]) : [res.json];
      for (const reply of replies) assert.equal(errorOf(reply).code, code, what);
    }
    // Deep nesting inside a string is just text.
    assert.equal(errorOf((await send(url, call('Test.Add', [1, deep(1000)]))).json).code, RPC_CODES.InvalidParams);
    assert.deepEqual((await send(url, call('Test.Add', [40, 2]))).json, { jsonrpc: '2.0', id: 1, result: 42 });
  });

  it('refuses requests a web page could send: non-JSON content types, foreign Origin, Host or Sec-Fetch-Site', async () => {
    const body = call('Test.Add', [1, 2]);
    const host = new URL(url).host;
    const refused: [string, Record<string, string>, number, RegExp][] = [
      ['text/plain', { 'content-type': 'text/plain' }, 415, /unsupported content type "text\/plain": send .* Content-Type: application\/json/],
      ['form', { 'content-type': 'application/x-www-form-urlencoded' }, 415, /unsupported content type/],
      ['no content type', {}, 415, /unsupported content type none/],
      ['foreign Origin', { 'content-type': 'application/json', origin: 'http://evil.example' }, 403, /Origin "http:\/\/evil.example" is not this server's own/],
      ['Origin null', { 'content-type': 'application/json', origin: 'null' }, 403, /cross-origin/],
      ['cross-site fetch', { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, 403, /cross-site/],
      ['rebound Host', { 'content-type': 'application/json', host: 'evil.example:1234' }, 403, /Host "evil.example:1234" refused/],
      ['rebound Host with its own Origin', { 'content-type': 'application/json', host: 'evil.example', origin: 'http://evil.example' }, 403, /Host "evil.example" refused/],
    ];
    for (const [what, headers, status, message] of refused) {
      const res = await send(url, body, headers);
      assert.equal(res.status, status, what);
      assert.match(errorOf(res.json).message, message, what);
    }
    const allowed: Record<string, string>[] = [
      { 'content-type': 'application/json; charset=utf-8' },
      { 'content-type': 'Application/JSON', origin: `http://${host}` },
      { 'content-type': 'application/json', host: `localhost:${new URL(url).port}` },
      { 'content-type': 'application/json', host: '127.0.0.2' },
      { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
    ];
    for (const headers of allowed) assert.deepEqual((await send(url, body, headers)).json, { jsonrpc: '2.0', id: 1, result: 3 }, JSON.stringify(headers));
  });

  it('refuses a rebound Host on every path of a loopback listener, and only there', async () => {
    const rebound = await send(`${base}/healthz`, null, { host: 'evil.example' });
    assert.equal(rebound.status, 403);
    assert.match(errorOf(rebound.json).message, /Host "evil.example" refused/);
    assert.equal((await send(`${base}/healthz`, null, { host: '[::1]:80' })).status, 200);
    assert.equal(foreignHost('0.0.0.0', 'manager.example:1234'), null);
    assert.equal(foreignHost('10.0.0.5', 'manager.example'), null);
    assert.match(foreignHost('localhost', 'evil.example') ?? '', /refused/);
    assert.match(foreignHost('::1', '127.0.0.1.evil.example') ?? '', /refused/);
  });

  it('answers bad percent-encoding with 400 and a failing route with a generic JSON 500, and keeps serving', async () => {
    const bad = await send(`${base}/rpc/v0/%E0%A4%A`, null);
    assert.equal(bad.status, 400);
    for (const path of ['/boom', '/later']) {
      const res = await send(`${base}${path}`, null);
      assert.equal(res.status, 500, path);
      assert.match(res.contentType, /application\/json/);
      assert.doesNotMatch(JSON.stringify(res.json), /secret detail/);
    }
    assert.deepEqual((await send(url, call('Test.Add', [1, 1]))).json, { jsonrpc: '2.0', id: 1, result: 2 });
  });
});

describe('daemon hardening (real manager and worker)', () => {
  let m: TestManager;
  let w: TestWorker;
  let rpcUrl: string;
  let token: string;
  const admin = (): Record<string, string> => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });

  before(async () => {
    m = await startTestManager(tempDir('hardening'));
    rpcUrl = `${m.url}/rpc/v0`;
    token = readFileSync(join(m.home, 'token'), 'utf8').trim();
    w = await startTestWorker(await writeWorkerConfig(tempDir('hardening-worker'), m, { threads: [{ plan: 'sealer' }] }));
  });
  after(async () => {
    await w.daemon.kill();
    await m.daemon.kill();
  });

  it('a text/plain cross-origin call cannot pause or abort a worker thread', async () => {
    const control = w.control.url;
    const csrf = { 'content-type': 'text/plain', origin: 'http://evil.example' };
    const pause = await send(control, call('VenusWorker.WorkerPause', [0]), csrf);
    assert.equal(pause.status, 415);
    const resume = await send(control, call('VenusWorker.WorkerResume', [0, 'Aborted']), { ...csrf, 'content-type': 'application/json' });
    assert.equal(resume.status, 403);
    const [thread] = await w.list();
    assert.notEqual(thread?.thread_state.state, 'Paused');
    assert.notEqual(thread?.job_state, 'Aborted');
    assert.equal(errorOf((await send(control, 'null')).json).code, RPC_CODES.InvalidRequest);
  });

  it('refuses a 20,000-call batch at once while /healthz answers', async () => {
    const batch = JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'SealFleet.PiecesList', params: [] })));
    const pending = send(rpcUrl, batch, admin());
    assert.equal((await send(`${m.url}/healthz`, null)).status, 200);
    const res = await pending;
    assert.equal(res.status, 400);
    assert.match(errorOf(res.json).message, /batch of 20000 calls exceeds the limit of 100/);
  });

  it('answers null bodies and bad piece store paths without a 500', async () => {
    for (const body of ['null', '[null]']) {
      const res = await send(rpcUrl, body, admin());
      assert.ok(res.status === 200 || res.status === 400, `${body}: HTTP ${res.status}`);
      const replies = Array.isArray(res.json) ? (res.json as unknown[]) : [res.json];
      for (const reply of replies) assert.equal(errorOf(reply).code, RPC_CODES.InvalidRequest);
    }
    const piece = await send(`${m.url}/piecestore/%E0%A4%A`, null, { authorization: `Bearer ${token}` });
    assert.equal(piece.status, 400);
  });

  it('refuses three 15 MiB failure descriptions and keeps the sector log as it was', async () => {
    const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
    const before = await m.call<unknown[]>('SealFleet.SectorLog', [s.ID]);
    const huge = 'x'.repeat(15 * 1024 * 1024);
    for (let i = 0; i < 3; i++) {
      const res = await send(rpcUrl, call('Venus.ReportState', [s.ID, { Worker: { Instance: 'w', Location: '/l' }, StateChange: { Prev: 'A', Next: 'B', Event: 'E' }, Failure: { Level: 'Temporary', Desc: huge } }]), admin());
      const error = errorOf(res.json);
      assert.equal(error.code, RPC_CODES.InvalidParams);
      assert.match(error.message, /param 1\.Failure\.Desc: expected at most 16384 characters/);
    }
    assert.deepEqual(await m.call<unknown[]>('SealFleet.SectorLog', [s.ID]), before);
  });

  it('refuses names with control or bidi characters, over-long names and paths, and traversal in an import path', async () => {
    const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
    const summary = { Threads: 0, Empty: 0, Paused: 0, Running: 0, Waiting: 0, Errors: 0 };
    const refused: [string, unknown[], RegExp][] = [
      ['Venus.WorkerPing', [{ Name: 'w\u001b[2J', Dest: 'd', Version: 'v', Summary: summary }], /param 0\.Name: expected printable text/],
      ['Venus.WorkerPing', [{ Name: 'w\u202eexe.txt', Dest: 'd', Version: 'v', Summary: summary }], /param 0\.Name: expected printable text/],
      ['Venus.WorkerPing', [{ Name: 'n'.repeat(257), Dest: 'd', Version: 'v', Summary: summary }], /param 0\.Name: expected at most 256 characters/],
      ['Venus.StoreBasicInfo', ['local\u0000'], /param 0: expected printable text/],
      ['Venus.SubmitPersisted', [s.ID, '\ud800'], /param 1: expected printable text/],
      ['Venus.ReportState', [s.ID, { Worker: { Instance: 'w', Location: `/${'p'.repeat(4096)}` }, StateChange: { Prev: 'A', Next: 'B', Event: 'E' } }], /param 1\.Worker\.Location: expected at most 4096 characters/],
      ['Venus.ReportAborted', [s.ID, 'r'.repeat(BOUNDS.text + 1)], /param 1: expected at most 16384 characters/],
      ['Venus.StoreReserveSpace', [s.ID, 2048, Array(BOUNDS.items + 1).fill('local')], /param 2: expected at most 1024 items/],
      ['SealFleet.DealsImport', ['/tmp/../etc/passwd', null], /param 0: expected a normalized path/],
      ['SealFleet.DealsImport', ['../../etc/passwd', null], /param 0: expected an absolute path/],
      ['SealFleet.PiecesList', [{ Limit: 10_001 }], /param 0\.Limit/],
      ['SealFleet.WorkerList', [{ Offset: -1 }], /param 0\.Offset/],
    ];
    for (const [name, params, message] of refused) {
      const res = await send(rpcUrl, call(name, params), admin());
      const error = errorOf(res.json);
      assert.equal(error.code, RPC_CODES.InvalidParams, name);
      assert.match(error.message, message, name);
    }
    assert.deepEqual(await m.call('SealFleet.PiecesList', [{ Limit: 1, Offset: 0 }]), []);
  });

  it('the worker cuts a long error text to the bound, keeping head and tail', async () => {
    const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
    const client = new ManagerClient(rpcUrl, token);
    const desc = `HEAD ${'y'.repeat(100_000)} TAIL`;
    await client.reportState(s.ID, { Worker: { Instance: 'w', Location: '/l' }, StateChange: { Prev: 'A', Next: 'A', Event: 'Failure' }, Failure: { Level: 'Temporary', Desc: desc } });
    const log = await m.call<{ FailureDesc: string | null }[]>('SealFleet.SectorLog', [s.ID]);
    const stored = log.at(-1)?.FailureDesc ?? '';
    assert.ok(stored.length <= BOUNDS.text, `stored ${stored.length} characters`);
    assert.match(stored, /^HEAD y+\n… \[\d+ characters cut\] …\ny+ TAIL$/);
  });

  it('bounds the rows of a sector log, newest kept, and pages lists', async () => {
    const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
    for (let round = 0; round < 11; round++) {
      const batch = Array.from({ length: 100 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'Venus.ReportState', params: [s.ID, { Worker: { Instance: 'w', Location: '/l' }, StateChange: { Prev: 'A', Next: 'B', Event: `E${round * 100 + i}` }, Failure: null }] }));
      const res = await send(rpcUrl, JSON.stringify(batch), admin());
      assert.equal((res.json as unknown[]).length, 100);
    }
    const log = await m.call<{ Event: string }[]>('SealFleet.SectorLog', [s.ID]);
    assert.equal(log.length, 1000);
    assert.equal(log.at(-1)?.Event, 'E1099');
    const latest = await m.call<{ Event: string }[]>('SealFleet.SectorLog', [s.ID, 3]);
    assert.deepEqual(latest.map((e) => e.Event), ['E1097', 'E1098', 'E1099']);
    await assert.rejects(m.call('SealFleet.SectorLog', [s.ID, 10_001]), /invalid params/);
    const all = await m.call<{ Sector: string }[]>('SealFleet.SectorsList', [{}]);
    const second = await m.call<{ Sector: string }[]>('SealFleet.SectorsList', [{ Limit: 1, Offset: 1 }]);
    assert.deepEqual(second, all.slice(1, 2));
  });
});
