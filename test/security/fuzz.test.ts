import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MethodDef } from '../../src/core/rpc/server.js';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { adminMethods } from '../../src/manager/api/admin.js';
import { wdpostMethods } from '../../src/manager/api/wdpost.js';
import type { WdPoStJobs } from '../../src/manager/proving/wdpostJobs.js';
import { sealerMethods, SealerService, type SealerDeps } from '../../src/manager/api/sealer.js';
import type { WorkerRegistry } from '../../src/manager/workers/registry.js';
import type { ThreadController } from '../../src/worker/controller.js';
import { controlMethods } from '../../src/worker/controlServer.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, writeWorkerConfig, type TestWorker } from '../helpers/worker.js';
import { mulberry32 } from '../helpers/random.js';

/**
 * Seeded fuzzing of both daemons' APIs and the piece store. Every request sent is one the servers must
 * refuse; the suite checks that they do, with JSON-RPC errors or 4xx (never a 5xx or an exit), that no
 * record changed, and that memory stays bounded. `SEALFLEET_FUZZ_SEED=<n>` replays a run.
 */
const SEED = Number(process.env.SEALFLEET_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
/** Invalid calls per method (spread over single requests and batches); with ~35 methods, about 2,000 calls. */
const CASES_PER_METHOD = 60;
/**
 * Growth of a daemon's resident memory over the run that still counts as bounded. The run sends a few
 * bodies of up to 16 MiB and about a thousand others; a leak of what they carry would show as hundreds
 * of MiB, while V8's heap may keep some tens of MiB it has not returned yet.
 */
const RSS_GROWTH_LIMIT_MIB = 192;


class Gen {
  constructor(readonly next: () => number) {}
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Strings that go where names, paths and texts go: traversal, odd unicode, terminal escapes, sizes at and past the bounds. */
const TRAVERSAL = ['../../etc/passwd', '..%2f..%2fetc%2fpasswd', '%2e%2e/%2e%2e/etc/passwd', '/etc/passwd', '/tmp/../etc/passwd', '..\\..\\windows\\win.ini', '//etc//passwd', './local', 'local/../../x', '/'];
const ODD = ['', '\u0000', 'local\u0000', '\ud800', 'a\udc00b', '\u202eevil', 'name\u2066x', '\u001b[31mred\u001b[0m', '\u009b2J', 'line\nbreak', '\ufeff', '\uffff', '😀'.repeat(200)];
const sized = (g: Gen): string => {
  const sizes = [257, 4097, 16 * 1024 + 1, 70_000, 300_000];
  return g.pick(['x', 'é', '😀', '\u0000']).repeat(g.pick(sizes));
};

function nastyString(g: Gen): string {
  switch (g.int(3)) {
    case 0:
      return g.pick(TRAVERSAL);
    case 1:
      return g.pick(ODD);
    default:
      return sized(g);
  }
}

function deepArray(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

function nastyValue(g: Gen): unknown {
  switch (g.int(8)) {
    case 0:
      return nastyString(g);
    case 1:
      return g.pick([-1, 1.5, 2 ** 64, -(2 ** 63), 1e308, 0.1, Number.MAX_SAFE_INTEGER + 2]);
    case 2:
      return g.pick([null, true, false]);
    case 3:
      return deepArray(g.pick([10, 40, 60]));
    case 4:
      return Array.from({ length: g.pick([0, 33, 2000]) }, () => g.int(256));
    case 5:
      return g.pick([{}, { '/': nastyString(g) }, { Miner: -1, Number: 'x' }, { ID: null }, Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i]))]);
    case 6:
      return Array.from({ length: g.int(4) }, () => nastyString(g));
    default:
      return { Miner: g.pick([1000, 0, -5]), Number: g.pick([0, 1, 2 ** 53, -1, '1']) };
  }
}

/** Replaces one leaf (or the whole value) of a valid-looking value with a nasty one. */
function mutate(value: unknown, g: Gen): unknown {
  if (typeof value !== 'object' || value === null || g.chance(0.25)) return nastyValue(g);
  const copy = (Array.isArray(value) ? [...value] : { ...value }) as Record<string, unknown>;
  const keys = Object.keys(copy);
  if (keys.length === 0) return nastyValue(g);
  const key = g.pick(keys);
  if (g.chance(0.1)) delete copy[key];
  else copy[key] = mutate(copy[key], g);
  return copy;
}

/** What the server does with params before the handler runs: JSON round trip, arity, then the zod tuple. */
function refusedLocally(def: MethodDef, params: unknown): boolean {
  const wire: unknown = JSON.parse(JSON.stringify(params ?? null));
  if (!Array.isArray(wire)) return true;
  if (wire.length < def.arity.min || wire.length > def.arity.max) return true;
  return !def.schema.safeParse([...wire, ...Array<undefined>(def.arity.max - wire.length).fill(undefined)]).success;
}

/**
 * The method tables as the daemons build them, with dependencies that are never called (building a
 * table only captures them): new methods in these tables are fuzzed without touching this file.
 */
function managerTable(): Record<string, MethodDef> {
  const unused = {} as SealerDeps;
  return {
    ...sealerMethods(new SealerService(unused), {} as WorkerRegistry),
    ...adminMethods({ records: unused.records, workers: {} as WorkerRegistry, pieces: unused.pieces, miners: unused.miners, messageCid: () => Promise.resolve(null) }),
    ...wdpostMethods({} as WdPoStJobs),
  };
}
const workerTable = (): Record<string, MethodDef> => controlMethods({} as ThreadController, { name: 'fuzz', version: 'fuzz' });

interface Answer {
  status: number;
  text: string;
}

let requestsSent = 0;

function send(url: string, body: string | Buffer | null, headers: Record<string, string>): Promise<Answer> {
  requestsSent++;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: body === null ? 'GET' : 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body ?? undefined);
  });
}

const rssMiB = (pid: number): number => {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(line, `no VmRSS for pid ${pid}`);
  return Number(line[1]) / 1024;
};

describe(`fuzzing the manager, the worker control API and the piece store (SEALFLEET_FUZZ_SEED=${SEED})`, () => {
  let m: TestManager;
  let w: TestWorker;
  let token: string;
  let sectors: AllocatedSector[];
  let piece: string;
  const g = new Gen(mulberry32(SEED));

  before(async () => {
    console.log(`fuzz seed ${SEED} (replay with SEALFLEET_FUZZ_SEED=${SEED})`);
    m = await startTestManager(tempDir('fuzz'));
    token = readFileSync(join(m.home, 'token'), 'utf8').trim();
    sectors = [];
    for (let i = 0; i < 3; i++) {
      const s = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
      await m.call('Venus.ReportState', [s.ID, { Worker: { Instance: 'fuzz-worker', Location: '/var/fuzz' }, StateChange: { Prev: 'Empty', Next: 'Allocated', Event: 'Allocate' }, Failure: null }]);
      sectors.push(s);
    }
    const payload = join(tempDir('fuzz-piece'), 'payload.bin');
    writeFileSync(payload, Buffer.alloc(1000, 7));
    const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', m.home]);
    assert.equal(imported.code, 0, imported.stderr);
    piece = imported.stdout.split(/\s+/)[0] as string;
    // A worker allowed only a miner that does not exist, its thread paused, stays still: its records move
    // only if a fuzzed call moves them.
    w = await startTestWorker(await writeWorkerConfig(tempDir('fuzz-worker'), m, { threads: [{ plan: 'sealer' }], sealing: 'allowed_miners = [4242]' }));
    await w.control.call('VenusWorker.WorkerPause', [0]);
    await eventually('the worker reported its paused thread', async () => {
      const [worker] = await m.call<{ Summary: { Paused: number } }[]>('SealFleet.WorkerList');
      return worker?.Summary.Paused === 1 ? true : undefined;
    });
  });
  after(async () => {
    await w?.daemon.kill();
    await m?.daemon.kill();
  });

  const managerHeaders = (): Record<string, string> => ({ 'content-type': 'application/json', authorization: `Bearer ${token}` });
  const workerHeaders = { 'content-type': 'application/json' };

  /** Records and logs of everything the fuzz could touch, without the fields that move by themselves. */
  async function snapshot(): Promise<unknown> {
    const records = await m.call<unknown[]>('SealFleet.SectorsList', [{}]);
    const perSector = [];
    for (const s of sectors) perSector.push([await m.call('SealFleet.SectorState', [s.ID]), await m.call('SealFleet.SectorLog', [s.ID])]);
    const workers = (await m.call<{ LastPing?: number }[]>('SealFleet.WorkerList')).map(({ LastPing: _moves, ...rest }) => rest);
    const threads = (await w.list()).map(({ thread_state: { elapsed: _moves, ...state }, ...rest }) => ({ ...rest, thread_state: state }));
    return { records, perSector, pieces: await m.call('SealFleet.PiecesList'), workers, threads };
  }

  /** Every answer must be a refusal: a 4xx, or JSON-RPC errors only (a lookup may answer null/false). */
  function assertRefused(what: string, answer: Answer, lookupMayMiss = false): void {
    assert.ok(answer.status < 500, `${what}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`);
    if (answer.status >= 400 || answer.status === 204) return;
    const parsed = JSON.parse(answer.text) as unknown;
    for (const reply of Array.isArray(parsed) ? parsed : [parsed]) {
      const r = reply as { error?: unknown; result?: unknown };
      const refused = r.error !== undefined || (lookupMayMiss && (r.result === null || r.result === false));
      assert.ok(refused, `${what}: accepted with ${JSON.stringify(r).slice(0, 300)}`);
    }
  }

  it('refuses every malformed or invalid request, changes nothing, and keeps both daemons up in bounded memory', async () => {
    const managerRss = rssMiB(m.daemon.proc.pid as number);
    const workerRss = rssMiB(w.daemon.proc.pid as number);
    const before = await snapshot();
    const rpcUrl = `${m.url}/rpc/v0`;
    const validId = sectors[0]?.ID;
    // Valid-looking values the mutations start from, so validation deeper than the first field is reached.
    const seeds: unknown[] = [
      validId,
      sectors[0],
      { Worker: { Instance: 'fuzz-worker', Location: '/var/fuzz' }, StateChange: { Prev: 'A', Next: 'B', Event: 'E' }, Failure: { Level: 'Temporary', Desc: 'd' } },
      { Name: 'w', Dest: '127.0.0.1:1', Version: 'v', Summary: { Threads: 0, Empty: 0, Paused: 0, Running: 0, Waiting: 0, Errors: 0 } },
      { CommR: Array(32).fill(1), CommD: Array(32).fill(2), Ticket: { Ticket: 'AAAA', Epoch: 1 } },
      { CommR: Array(32).fill(1), CommD: Array(32).fill(2), AccessInstance: 'local', Pieces: [{ '/': piece }], Proof: 'AAAA' },
      { Proof: 'AAAA' },
      { AllowedMiners: null, AllowedProofTypes: null },
      { Sector: { AllowedMiners: null, AllowedProofTypes: null }, Deals: { MaxDeals: null, MinUsedSpace: null } },
      { Status: 'sealing', Limit: 10, Offset: 0 },
      'local',
      '/var/fuzz/file',
      true,
      0,
      null,
    ];

    const suites: [string, string, Record<string, MethodDef>, Record<string, string>][] = [
      ['manager', rpcUrl, managerTable(), managerHeaders()],
      ['worker', w.control.url, workerTable(), workerHeaders],
    ];
    for (const [daemon, url, table, headers] of suites) {
      const names = Object.keys(table);
      assert.ok(names.length > 0);
      // The tables are the daemon's own: every name is served (an empty call is refused for its params, not as unknown).
      for (const name of names) {
        const res = await send(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: name, params: Array(20).fill(null) }), headers);
        assert.doesNotMatch(res.text, /-32601/, `${daemon} does not serve ${name}`);
      }
      const pending: { what: string; body: unknown }[] = [];
      const flush = async (): Promise<void> => {
        if (pending.length === 0) return;
        const batch = pending.splice(0, pending.length);
        const body = batch.length === 1 ? batch[0]?.body : batch.map((b) => b.body);
        assertRefused(`${daemon} ${batch.map((b) => b.what).join(', ').slice(0, 300)}`, await send(url, JSON.stringify(body), headers));
      };
      for (const name of names) {
        const def = table[name] as MethodDef;
        for (let i = 0; i < CASES_PER_METHOD; i++) {
          let params: unknown;
          for (let attempt = 0; attempt < 20; attempt++) {
            switch (g.int(5)) {
              case 0: // wrong arity
                params = Array.from({ length: g.chance(0.5) ? def.arity.max + 1 + g.int(3) : Math.max(0, def.arity.min - 1) }, () => g.pick(seeds));
                break;
              case 1: // not positional
                params = g.pick([{ a: 1 }, 'params', 7, true]);
                break;
              default: // right arity, one or more params wrong
                params = Array.from({ length: def.arity.max }, () => (g.chance(0.5) ? mutate(g.pick(seeds), g) : g.pick(seeds)));
            }
            if (refusedLocally(def, params)) break;
            params = undefined;
          }
          if (params === undefined) continue;
          pending.push({ what: `${name}#${i}`, body: { jsonrpc: '2.0', id: g.pick([i, `id-${i}`, null]), method: name, params } });
          if (!g.chance(0.7)) await flush();
          else if (pending.length >= 1 + g.int(100)) await flush();
        }
      }
      await flush();

      // Bodies that are not (valid) requests at all.
      const call = JSON.stringify({ jsonrpc: '2.0', id: 1, method: names[0], params: [] });
      const raw: (string | Buffer)[] = [
        'null', '[null]', '[]', '[[]]', '{}', '1', '"x"', 'true', '',
        call.slice(0, g.int(call.length)),
        `[${call},`,
        `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
        `{"jsonrpc":"2.0","id":${'['.repeat(10_000)}${']'.repeat(10_000)},"method":${JSON.stringify(names[0])},"params":[]}`,
        `{"jsonrpc":"2.0","id":1,"method":${JSON.stringify(names[0])},"params":${'{"a":'.repeat(70)}1${'}'.repeat(70)}}`,
        JSON.stringify([[{ jsonrpc: '2.0', id: 1, method: names[0], params: [] }]]),
        JSON.stringify(Array.from({ length: 101 + g.int(2000) }, (_, i) => ({ jsonrpc: '2.0', id: i, method: names[0], params: [] }))),
        JSON.stringify({ jsonrpc: '2.0', id: { nested: true }, method: names[0], params: [] }),
        JSON.stringify({ jsonrpc: '2.0', id: 'x'.repeat(1000), method: names[0], params: [] }),
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x'.repeat(100_000), params: [] }),
        JSON.stringify({ jsonrpc: '2.0', id: 1, method: '\u202eNosuch\u0000', params: [] }),
        '{"jsonrpc":"2.0","id":1,"method":"Venus.StoreBasicInfo","params":["\\ud800"],"__proto__":{"polluted":1}}',
        Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
        Buffer.concat([Buffer.from('["'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"]')]),
        Buffer.alloc(g.int(5000), 0),
      ];
      for (const body of raw) assertRefused(`${daemon} raw body ${String(body).slice(0, 60)}`, await send(url, body, headers));
      // Requests a web page could send.
      const foreign: Record<string, string>[] = [
        { 'content-type': 'text/plain' },
        { 'content-type': 'application/x-www-form-urlencoded' },
        { 'content-type': 'multipart/form-data; boundary=x' },
        { 'content-type': 'application/json', origin: 'http://evil.example' },
        { 'content-type': 'application/json', host: 'evil.example' },
        { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      ];
      for (const extra of foreign) {
        const res = await send(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: names[0], params: [] }), { ...headers, ...extra });
        assert.ok(res.status === 403 || res.status === 415, `${daemon} ${JSON.stringify(extra)}: HTTP ${res.status}`);
      }
    }

    // Traversal where a string names a store or a file: refused, or a lookup that finds nothing.
    const lookups: [string, unknown[]][] = [];
    for (const text of [...TRAVERSAL, ...ODD]) {
      lookups.push(['Venus.StoreBasicInfo', [text]], ['Venus.SubmitPersisted', [validId, text]], ['Venus.SubmitPersistedEx', [validId, text, g.chance(0.5)]]);
      lookups.push(['SealFleet.WorkerFind', [text]], ['Venus.StoreReserveSpace', [validId, 2048, [text]]]);
      // Importing a file the manager can read, named by its plain absolute path, is what DealsImport is for.
      if (text !== '/etc/passwd') lookups.push(['SealFleet.DealsImport', [text, null]]);
    }
    for (const [name, params] of lookups) {
      const res = await send(rpcUrl, JSON.stringify({ jsonrpc: '2.0', id: 1, method: name, params }), managerHeaders());
      assertRefused(`${name} ${JSON.stringify(params).slice(0, 100)}`, res, true);
    }
    const piecePaths = [...TRAVERSAL.map(encodeURIComponent), ...TRAVERSAL, '%E0%A4%A', '%', '%00', `${piece}/../../etc/passwd`, `${piece}%2f..%2f..%2fetc%2fpasswd`, encodeURIComponent('\u202e'), 'x'.repeat(5000)];
    for (const path of piecePaths) {
      const res = await send(`${m.url}/piecestore/${path}`, null, { authorization: `Bearer ${token}` });
      assert.ok(res.status >= 400 && res.status < 500, `/piecestore/${path.slice(0, 80)}: HTTP ${res.status}`);
    }

    assert.equal(m.daemon.proc.exitCode, null, 'manager exited');
    assert.equal(w.daemon.proc.exitCode, null, 'worker exited');
    assert.equal((await send(`${m.url}/healthz`, null, {})).status, 200);
    assert.equal(await w.control.call('VenusWorker.WorkerVersion'), await w.control.call('VenusWorker.WorkerVersion'));
    assert.deepEqual(await snapshot(), before);
    const grown = { manager: rssMiB(m.daemon.proc.pid as number) - managerRss, worker: rssMiB(w.daemon.proc.pid as number) - workerRss };
    console.log(`${requestsSent} requests; resident memory growth over the run: manager ${grown.manager.toFixed(1)} MiB, worker ${grown.worker.toFixed(1)} MiB`);
    assert.ok(grown.manager < RSS_GROWTH_LIMIT_MIB && grown.worker < RSS_GROWTH_LIMIT_MIB, `memory grew ${JSON.stringify(grown)} MiB`);
  });
});
