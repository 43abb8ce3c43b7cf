import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { WorkerControl } from '../../src/cli/workerClient.js';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { BOUNDS } from '../../src/core/wire/bounds.js';
import { THREAD_LOG_ERROR_MAX, type ThreadEvent, type WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { ThreadController } from '../../src/worker/controller.js';
import { startControlServer } from '../../src/worker/controlServer.js';
import { ROOT, runCli, tempDir } from '../helpers/processes.js';

const WORKER_BIN = join(ROOT, 'bin', 'sealfleet-worker.js');
const silent = pino({ level: 'silent' });

const THREADS: WorkerThreadInfo[] = [
  {
    location: '/mnt/store1',
    plan: 'sealer',
    job_id: 's-t01000-2',
    index: 0,
    thread_state: { state: 'Paused', elapsed: 822 },
    job_state: 'C1Done',
    job_stage: 'C2',
    last_error: 'permanent: no cached parameters\nfor c2',
  },
  { location: '/mnt/store2', plan: 'snapup', job_id: null, index: 1, thread_state: { state: 'Idle' }, job_state: '', job_stage: null, last_error: null },
  {
    location: '/mnt/store3',
    plan: 'sealer',
    job_id: 's-t01000-3',
    index: 2,
    thread_state: { state: 'Running', elapsed: 17, proc: 'ext(pid: 4242)' },
    job_state: 'PC1Done',
    job_stage: 'PC2',
    last_error: null,
  },
];

const EVENTS: ThreadEvent[] = [
  { at: Date.UTC(2026, 10, 22, 3, 0, 0), sector: 's-t01000-2', from: 'TicketAssigned', event: 'PC1', to: 'PC1Done', level: null, error: null, took_ms: 12_345_678, processor_ms: 12_345_001.5 },
  { at: Date.UTC(2026, 10, 22, 3, 0, 1), sector: 's-t01000-2', from: 'PC1Done', event: 'Retry', to: 'PC1Done', level: 'Permanent', error: 'pc2: no space\nleft', took_ms: 4.5, processor_ms: null },
  { at: Date.UTC(2026, 10, 22, 3, 0, 2), sector: null, from: 'Empty', event: 'SetState', to: 'Empty', level: null, error: null, took_ms: null, processor_ms: null },
];

/** Records every call; refuses what the real controller refuses, with its kind of message. */
class FakeController implements ThreadController {
  calls: string[] = [];

  list(): WorkerThreadInfo[] {
    this.calls.push('list');
    return THREADS;
  }

  pause(index: number): boolean {
    this.calls.push(`pause ${index}`);
    return THREADS[index]?.thread_state.state !== 'Paused';
  }

  resume(index: number, state: string | null): boolean {
    this.calls.push(`resume ${index} ${state}`);
    if (THREADS[index]?.thread_state.state !== 'Paused') throw new Error(`thread #${index} is not paused`);
    return true;
  }

  drain(index: number | null): number {
    this.calls.push(`drain ${index}`);
    return index === null ? THREADS.length : 1;
  }

  log(index: number, limit: number): ThreadEvent[] {
    this.calls.push(`log ${index} ${limit}`);
    return EVENTS.slice(-limit);
  }
}

const codeOf = (code: number) => (err: unknown) => err instanceof RpcError && err.code === code;

describe('worker control server', () => {
  const controller = new FakeController();
  let server: { url: string; close(): Promise<void> };
  let rpc: RpcClient;

  before(async () => {
    server = await startControlServer({ host: '127.0.0.1', port: 0, token: null }, controller, { name: 'w1', version: 'v0.1.0-test' }, silent);
    rpc = new RpcClient({ url: `${server.url}/rpc/v0` });
  });
  after(() => server.close());
  beforeEach(() => {
    controller.calls = [];
  });

  it('lists the threads at / and at /rpc/v0, and tells its version', async () => {
    assert.deepEqual(await rpc.call('VenusWorker.WorkerList'), THREADS);
    assert.deepEqual(await new RpcClient({ url: `${server.url}/` }).call('VenusWorker.WorkerList', []), THREADS);
    assert.equal(await rpc.call('VenusWorker.WorkerVersion'), 'v0.1.0-test');
  });

  it('pauses, resumes in a state, and drains', async () => {
    const control = new WorkerControl('w', server.url);
    assert.equal(await control.pause(2), true);
    assert.equal(await control.pause(0), false);
    assert.equal(await control.resume(0, 'TreeDBuilt'), true);
    assert.equal(await rpc.call('VenusWorker.WorkerResume', [0]), true);
    assert.equal(await control.drain(null), 3);
    assert.equal(await control.drain(1), 1);
    assert.deepEqual(
      controller.calls.filter((c) => c !== 'list'),
      ['pause 2', 'pause 0', 'resume 0 TreeDBuilt', 'resume 0 null', 'drain null', 'drain 1'],
    );
  });

  it('answers a bad index with InvalidParams, before the controller sees it', async () => {
    for (const [method, params] of [
      ['VenusWorker.WorkerPause', [3]],
      ['VenusWorker.WorkerResume', [3, null]],
      ['VenusWorker.WorkerDrain', [3]],
      ['VenusWorker.WorkerLog', [3]],
    ] as const) {
      await assert.rejects(rpc.call(method, [...params]), (e: RpcError) => e.code === RPC_CODES.InvalidParams && e.message === 'thread #3 not found: worker w1 has threads 0–2');
    }
    await assert.rejects(rpc.call('VenusWorker.WorkerPause', [-1]), (e: RpcError) => e.message === 'thread #-1 not found: worker w1 has threads 0–2');
    await assert.rejects(rpc.call('VenusWorker.WorkerPause', ['0']), codeOf(RPC_CODES.InvalidParams));
    await assert.rejects(rpc.call('VenusWorker.WorkerResume', [0, 5]), codeOf(RPC_CODES.InvalidParams));
    await assert.rejects(rpc.call('VenusWorker.WorkerLog', [0, 0]), codeOf(RPC_CODES.InvalidParams));
    await assert.rejects(rpc.call('VenusWorker.WorkerLog', [0, 10_001]), codeOf(RPC_CODES.InvalidParams));
    assert.deepEqual(controller.calls.filter((c) => c !== 'list'), []);
  });

  it("turns the controller's refusal into an application error with its message", async () => {
    await assert.rejects(rpc.call('VenusWorker.WorkerResume', [1, null]), (e: RpcError) => e.code === RPC_CODES.Application && e.message === 'thread #1 is not paused');
  });
});

describe('worker control server with a token', () => {
  let server: { url: string; close(): Promise<void> };

  before(async () => {
    server = await startControlServer({ host: '127.0.0.1', port: 0, token: 'control-secret' }, new FakeController(), { name: 'w1', version: 'v' }, silent);
  });
  after(() => server.close());

  it('requires exactly the configured token', async () => {
    const call = (token?: string) => new RpcClient({ url: `${server.url}/rpc/v0`, ...(token ? { token } : {}) }).call('VenusWorker.WorkerList');
    await assert.rejects(call(), (e: RpcError) => e.code === RPC_CODES.Unauthorized && /requires a bearer token: its rpc_server\.token, or a token of its manager/.test(e.message));
    await assert.rejects(call('control-secre'), (e: RpcError) => e.code === RPC_CODES.Unauthorized && /wrong token/.test(e.message));
    await assert.rejects(call('control-secret-and-more'), codeOf(RPC_CODES.Unauthorized));
    assert.deepEqual(await call('control-secret'), THREADS);
  });
});

describe('sealfleet-worker worker …', () => {
  const controller = new FakeController();
  let server: { url: string; close(): Promise<void> };
  let config: string;
  const worker = (...args: string[]) => runCli(WORKER_BIN, ['worker', '-c', config, ...args]);
  const printsTable = async (args: string[], lines: string[]): Promise<void> => {
    const r = await worker(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, [...lines, ''].join('\n'));
  };

  /** A worker config whose control API is the in-test server (with a token, so the CLI must send it). */
  const writeConfig = (dir: string, port: number): string => {
    const path = join(dir, 'worker.toml');
    writeFileSync(
      path,
      `[worker]\nname = "cli-test"\nrpc_server.port = ${port}\nrpc_server.token = "cli-secret"\n\n` +
        `[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\ntoken = "t"\n\n[[sealing_thread]]\nlocation = "store"\n`,
    );
    return path;
  };

  before(async () => {
    server = await startControlServer({ host: '127.0.0.1', port: 0, token: 'cli-secret' }, controller, { name: 'cli-test', version: 'v' }, silent);
    config = writeConfig(tempDir('worker-cli'), Number(new URL(server.url).port));
  });
  after(() => server.close());
  beforeEach(() => {
    controller.calls = [];
  });

  it('lists the threads as a table, and as JSON', async () => {
    await printsTable(['list'], [
      '#  Location     Plan    SectorID    Paused  PausedElapsed  State    Stage  LastErr',
      '0  /mnt/store1  sealer  s-t01000-2  true    13m42s         C1Done   C2     permanent: no cached parameters\\nfor c2',
      '1  /mnt/store2  snapup  -           false   -              -        -      -',
      '2  /mnt/store3  sealer  s-t01000-3  false   -              PC1Done  PC2    -',
    ]);
    const json = await worker('list', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), THREADS);
  });

  it("shows a thread's event log with its durations, as a table and as JSON", async () => {
    await printsTable(['log', '--index', '0'], [
      'Time                 Sector      Event     From            To       Took    Processors  Error',
      '2026-11-22 03:00:00  s-t01000-2  PC1       TicketAssigned  PC1Done  3h25m   3h25m       -',
      '2026-11-22 03:00:01  s-t01000-2  Retry     PC1Done         PC1Done  4.50ms  -           Permanent: pc2: no space\\nleft',
      '2026-11-22 03:00:02  -           SetState  Empty           Empty    -       -           -',
    ]);
    const json = await worker('log', '--index', '0', '--limit', '2', '--json');
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), EVENTS.slice(-2));
    assert.deepEqual(controller.calls.filter((c) => c !== 'list'), ['log 0 50', 'log 0 2']);
    const bad = await worker('log', '--index', '0', '--limit', '0');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^error: option '-n, --limit <n>' argument '0' is invalid\. invalid --limit "0": expected 1–10000\n$/);
  });

  it('refuses a resume state outside the thread plan without sending the resume', async () => {
    const r = await worker('resume', '--state', 'SnapEncoded', '--index', '0');
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: invalid state "SnapEncoded" for thread #0 \(plan sealer\): expected one of Empty, Allocated, .*TreeDBuilt, .*ProofSubmitted, Finished, Aborted\n$/);
    assert.deepEqual(controller.calls, ['list']);
  });

  it('resumes in a state of the plan, pauses and drains', async () => {
    const resumed = await worker('resume', '--state', 'TreeDBuilt', '--index', '0');
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.stdout, '#0: resumed in state TreeDBuilt\n');
    const paused = await worker('pause', '--index', '2');
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout, '#2: pause requested\n');
    const drained = await worker('drain');
    assert.equal(drained.stdout, 'draining 3 threads: each finishes its current sector and takes no new one\n');
    assert.deepEqual(controller.calls.filter((c) => c !== 'list'), ['resume 0 TreeDBuilt', 'pause 2', 'drain null']);
  });

  it('reports every failure in one line on stderr with a non-zero exit', async () => {
    const dir = tempDir('worker-cli-bad');
    const failures: [string[], RegExp][] = [
      [['pause', '--index', '7'], /^error: thread #7 not found: worker cli-test has threads 0–2\n$/],
      [['resume', '--index', '1'], /^error: thread #1 is not paused\n$/],
      [['resume', '--state', 'PC1Done', '--index', '9'], /^error: thread #9 not found: worker cli-test has threads 0–2\n$/],
      [['pause', '--index', 'x'], /^error: option '-i, --index <i>' argument 'x' is invalid\. invalid thread index "x": expected a non-negative integer\n$/],
      [['pause'], /^error: required option '-i, --index <i>' not specified\n$/],
    ];
    for (const [args, stderr] of failures) {
      const r = await worker(...args);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, stderr, args.join(' '));
    }
    writeFileSync(join(dir, 'bad.toml'), '[worker]\nrpc_server.prot = 1\n');
    const badConfig = await runCli(WORKER_BIN, ['worker', '-c', join(dir, 'bad.toml'), 'list']);
    assert.equal(badConfig.code, 1);
    assert.match(badConfig.stderr, /^error: invalid worker config \S+bad\.toml: unknown key worker\.rpc_server\.prot; .*\n$/);

    const unused = await startControlServer({ host: '127.0.0.1', port: 0, token: null }, controller, { name: 'cli-test', version: 'v' }, silent);
    await unused.close();
    const down = await runCli(WORKER_BIN, ['worker', '-c', writeConfig(dir, Number(new URL(unused.url).port)), 'list']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: worker cli-test at http:\/\/127\.0\.0\.1:\d+\/rpc\/v0 is unreachable: .*ECONNREFUSED.*\n$/);
  });
});

describe('worker control server replies', () => {
  it('cut long error texts, keeping head and tail, so a full log stays bounded', async () => {
    const long = `HEAD ${'e'.repeat(200_000)} TAIL`;
    const verbose = new (class extends FakeController {
      override list(): WorkerThreadInfo[] {
        return THREADS.map((t) => ({ ...t, last_error: long }));
      }
      override log(): ThreadEvent[] {
        return Array.from({ length: 100 }, () => ({ ...(EVENTS[1] as ThreadEvent), error: long }));
      }
    })();
    const server = await startControlServer({ host: '127.0.0.1', port: 0, token: null }, verbose, { name: 'w1', version: 'v0.1.0-test' }, silent);
    try {
      const rpc = new RpcClient({ url: server.url });
      const [thread] = await rpc.call<WorkerThreadInfo[]>('VenusWorker.WorkerList');
      assert.ok((thread?.last_error?.length ?? 0) <= BOUNDS.text);
      assert.match(thread?.last_error ?? '', /^HEAD e+\n… \[\d+ characters cut\] …\ne+ TAIL$/);
      const rows = await rpc.call<ThreadEvent[]>('VenusWorker.WorkerLog', [0, 100]);
      assert.equal(rows.length, 100);
      for (const row of rows) assert.ok((row.error?.length ?? 0) <= THREAD_LOG_ERROR_MAX && row.error?.endsWith(' TAIL'));
    } finally {
      await server.close();
    }
  });
});
