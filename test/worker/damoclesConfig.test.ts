import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { commitmentToCid } from '../../src/core/commitment.js';
import { pieceCommitment } from '../../src/core/piece.js';
import type { ThreadEvent, WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorDetail, SectorSummary } from '../../src/manager/api/admin.js';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, type TestWorker } from '../helpers/worker.js';
import { configFile, refusal } from '../helpers/workerConfig.js';

/**
 * Every key of damocles-worker's documented key reference in the sections this worker config covers, with
 * the values its documentation shows. The processor keys and `[metrics]` are in PROCESSOR_KEYS below.
 */
const DAMOCLES_WORKER_TOML = `
[worker]
name = "worker-01"
rpc_server.host = "127.0.0.1"
rpc_server.port = 17891
ping_interval = "30s"
local_pieces_dir = "/mnt/pieces-old"
local_pieces_dirs = ["pieces", "/mnt/pieces"]

[sector_manager]
rpc_client.addr = "/ip4/10.0.0.2/tcp/1789"
rpc_client.headers = { User-Agent = "jsonrpc-core-client", X-Gateway-Key = "gw" }
piece_token = "eyJhbGciOiJIUzI1NiJ9.piece"

[sealing]
allowed_miners = [10123, 10124]
allowed_sizes = ["32GiB", "64GiB"]
enable_deals = true
disable_cc = true
max_deals = 3
min_deal_space = "8GiB"
max_retries = 10
seal_interval = "30s"
recover_interval = "60s"
rpc_polling_interval = "180s"
ignore_proof_check = true
request_task_max_retries = 5
verify_after_pc2 = true

[[sealing_thread]]
location = "/mnt/nvme1/store"

[[sealing_thread]]
location = "/mnt/nvme2/store"
plan = "snapup"
sealing.allowed_miners = [10123]
sealing.allowed_sizes = ["32GiB"]
sealing.enable_deals = true
sealing.disable_cc = false
sealing.max_deals = 4
sealing.min_deal_space = "1GiB"
sealing.max_retries = 3
sealing.seal_interval = "10s"
sealing.recover_interval = "15s"
sealing.rpc_polling_interval = "1min"
sealing.ignore_proof_check = false
sealing.request_task_max_retries = 0
sealing.verify_after_pc2 = false

[[sealing_thread]]
location = "/mnt/nvme3/store"
plan = "rebuild"

[[sealing_thread]]
location = "/mnt/nvme4/store"
plan = "unseal"

[[sealing_thread]]
plan = "wdpost"
sealing.recover_interval = "15s"

[[attached]]
name = "persist-1"
location = "/mnt/persist1"
readonly = false

[[attached]]
location = "/mnt/persist2"
readonly = true

[remote_store]
name = "old-store"
location = "/mnt/old"
`;

/**
 * The rest of the reference: `[metrics]`, `worker.scan_persist_stores` and the processor keys, whose
 * handling lives with the processors and persist stores. Loading them together with the keys above is the
 * check to enable once those parts are merged.
 */
const PROCESSOR_KEYS = `
[metrics]
enable = true
http_listen = "127.0.0.1:9000"

[processors.limitation.concurrent]
add_pieces = 4
pc1 = 4
pc2 = 1
c2 = 1

[processors.limitation.staggered]
pc1 = "5min"

[processors.ext_locks]
gpu = 1

[processors.static_tree_d]
2KiB = "tree-d-2KiB.dat"

[[processors.pc1]]
numa_preferred = 0
cgroup.cpuset = "0-7"
cgroup.group_name = "vc-worker"
concurrent = 2
envs = { FIL_PROOFS_USE_MULTICORE_SDR = "1" }
stable_wait = "5s"
auto_restart = true
inherit_envs = true

[[processors.pc2]]
bin = "/usr/local/bin/damocles-worker"
args = ["processor", "pc2"]
locks = ["gpu"]
envs = { CUDA_VISIBLE_DEVICES = "0" }

[[processors.c2]]
locks = ["gpu"]

[[processors.transfer]]
`;

describe('a damocles-worker config', () => {
  it('loads, applying every sealing-side key, with one warning per key that has no effect here', () => {
    const path = configFile(DAMOCLES_WORKER_TOML);
    const dir = join(path, '..');
    const cfg = loadWorkerConfig(path);
    assert.deepEqual(cfg.warnings, [
      `config: ${path}: key "remote_store" is accepted for damocles compatibility and has no effect here`,
      `config: ${path}: key "worker.local_pieces_dir" is accepted for damocles compatibility and has no effect here: worker.local_pieces_dirs is set and wins`,
      `config: ${path}: key "sealing_thread.3.plan" is accepted for damocles compatibility and has no effect here: "unseal": sealfleet-worker has no unseal plan, so this thread does not start`,
    ]);
    assert.deepEqual(cfg.worker.local_pieces_dirs, [join(dir, 'pieces'), '/mnt/pieces']);
    assert.deepEqual(cfg.sector_manager, {
      urls: ['http://10.0.0.2:1789/rpc/v0'],
      token: null,
      piece_token: 'eyJhbGciOiJIUzI1NiJ9.piece',
      headers: { 'User-Agent': 'jsonrpc-core-client', 'X-Gateway-Key': 'gw' },
    });
    const sealing = {
      allowed_miners: [10123, 10124],
      allowed_sizes: [32 * 1024 ** 3, 64 * 1024 ** 3],
      enable_deals: true,
      disable_cc: true,
      max_deals: 3,
      min_deal_space: 8 * 1024 ** 3,
      max_retries: 10,
      seal_interval: 30_000,
      recover_interval: 60_000,
      rpc_polling_interval: 180_000,
      ticket_expiry_check: true,
      ignore_proof_check: true,
      request_task_max_retries: 5,
      verify_after_pc2: true,
    };
    assert.deepEqual(cfg.sealing, sealing);
    assert.deepEqual(
      cfg.threads.map((t) => [t.index, t.plan, t.location]),
      [
        [0, 'sealer', '/mnt/nvme1/store'],
        [1, 'snapup', '/mnt/nvme2/store'],
        [2, 'rebuild', '/mnt/nvme3/store'],
        [4, 'wdpost', null],
      ],
      'the unseal thread does not run; the wdpost thread needs no location',
    );
    assert.deepEqual(cfg.threads[0]?.sealing, sealing);
    assert.deepEqual(cfg.threads[1]?.sealing, {
      ...sealing,
      allowed_miners: [10123],
      allowed_sizes: [32 * 1024 ** 3],
      disable_cc: false,
      max_deals: 4,
      min_deal_space: 1024 ** 3,
      max_retries: 3,
      seal_interval: 10_000,
      recover_interval: 15_000,
      rpc_polling_interval: 60_000,
      ignore_proof_check: false,
      request_task_max_retries: 0,
      verify_after_pc2: false,
    });
    assert.deepEqual(cfg.attached, [
      { name: 'persist-1', location: '/mnt/persist1', read_only: false },
      { name: '/mnt/persist2', location: '/mnt/persist2', read_only: true },
    ]);
  });

  it('loads the processor, metrics and persist-store keys too', () => {
    // The entries without bin run in sealfleet-proofs: any executable stands in for it while the config loads.
    const path = configFile(`${DAMOCLES_WORKER_TOML.replace('[worker]\n', '[worker]\nscan_persist_stores = ["/mnt/persist*"]\n')}${PROCESSOR_KEYS}[processors.sidecar]\nbin = "${process.execPath}"\n`);
    writeFileSync(join(path, '..', 'tree-d-2KiB.dat'), Buffer.alloc(4064));
    const cfg = loadWorkerConfig(path);
    assert.equal(cfg.threads.length, 4);
    assert.equal(cfg.processors.kinds.transfer, 'builtin', 'a bin-less transfer entry runs the builtin transfer');
    assert.deepEqual(cfg.processors.external.pc1?.[0]?.bin, process.execPath);
    assert.deepEqual(cfg.metrics, { enable: true, http_listen: '127.0.0.1:9000' });
    assert.ok(cfg.warnings.some((w) => w.endsWith('key "processors.pc1.0.cgroup.group_name" is accepted for damocles compatibility and has no effect here')));
  });

  it('takes local_pieces_dir alone, relative to the file, and no token', () => {
    const path = configFile(`[worker]\nlocal_pieces_dir = "pieces"\n[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\n[[sealing_thread]]\nlocation = "t0"\n`);
    const cfg = loadWorkerConfig(path);
    assert.deepEqual(cfg.worker.local_pieces_dirs, [join(path, '..', 'pieces')]);
    assert.equal(cfg.sector_manager.token, null);
    assert.deepEqual(cfg.warnings, []);
  });

  it('still refuses a misspelt key, naming it, and a bad value of an accepted key', () => {
    const base = `[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\n[[sealing_thread]]\nlocation = "t0"\n`;
    assert.equal(refusal(`${base}[sealing]\nmax_retires = 3\n`), 'unknown key sealing.max_retires');
    assert.equal(refusal(`${base}sealing.disable_ccc = true\n`), 'unknown key sealing_thread.0.sealing.disable_ccc');
    assert.equal(refusal(`${base}[worker]\nlocal_piece_dirs = ["p"]\n`), 'unknown key worker.local_piece_dirs');
    assert.equal(refusal(`[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\nrpc_client.header = { A = "b" }\n[[sealing_thread]]\nlocation = "t0"\n`), 'unknown key sector_manager.rpc_client.header');
    assert.equal(refusal(`${base}[remote_store]\nlocation = "/mnt/x"\nread_only = true\n`), 'unknown key remote_store.read_only');
    assert.match(refusal(`${base}[remote_store]\nlocation = "/mnt/x"\nreadonly = "yes"\n`), /^remote_store\.readonly: .*expected boolean/);
    assert.match(refusal(`${base}[sealing]\nrequest_task_max_retries = -1\n`), /^sealing\.request_task_max_retries: .*>=0/);
    assert.match(refusal(`${base}plan = "niporep"\n`), /^sealing_thread\.0\.plan: unknown plan "niporep": expected one of sealer, snapup, rebuild, wdpost, unseal$/);
  });

  it('checks the headers, never showing a value, and refuses a second way to authorize', () => {
    const manager = (headers: string, token = '') => `[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\nrpc_client.headers = ${headers}\n${token}[[sealing_thread]]\nlocation = "t0"\n`;
    assert.equal(refusal(manager('{ "X Key" = "v" }')), `sector_manager.rpc_client.headers.X Key: invalid header name "X Key": expected letters, digits and !#$%&'*+.^_\`|~- only`);
    const crlf = refusal(manager('{ X-Key = "secret\\r\\nX-Injected: 1" }'));
    assert.equal(crlf, 'sector_manager.rpc_client.headers.X-Key: the value of header "X-Key" has a control character (CR, LF, NUL …): expected one line of printable text');
    assert.equal(refusal(manager('{ Content-Length = "5" }')), 'sector_manager.rpc_client.headers.Content-Length: header "Content-Length" is set by the worker on every call: remove it');
    assert.equal(
      refusal(manager('{ authorization = "Basic eA==" }', 'token = "t"\n')),
      'sector_manager.rpc_client.headers.authorization is set together with sector_manager.token, which is sent as "Authorization: Bearer <token>": expected only one of the two',
    );
    const tokenless = loadWorkerConfig(configFile(manager('{ Authorization = "Basic eA==" }')));
    assert.deepEqual(tokenless.sector_manager.headers, { Authorization: 'Basic eA==' });
  });

  it('checks locations per plan, and that a thread with disable_cc can get deals', () => {
    const base = `[sector_manager]\nrpc_client.addr = "/ip4/127.0.0.1/tcp/1789"\n`;
    assert.equal(refusal(`${base}[[sealing_thread]]\nplan = "sealer"\n`), 'sealing_thread.0.location: missing: expected the directory of the thread\'s local store');
    assert.deepEqual(loadWorkerConfig(configFile(`${base}[[sealing_thread]]\nplan = "wdpost"\n`)).threads.map((t) => [t.plan, t.location]), [['wdpost', null]]);
    assert.equal(
      refusal(`${base}[sealing]\ndisable_cc = true\n[[sealing_thread]]\nlocation = "t0"\n`),
      'sealing_thread.0: sealing.disable_cc is true but sealing.enable_deals is false, so the thread could never seal a sector: enable deals or drop disable_cc',
    );
    const snapup = loadWorkerConfig(configFile(`${base}[sealing]\ndisable_cc = true\n[[sealing_thread]]\nlocation = "t0"\nplan = "snapup"\n`));
    assert.equal(snapup.threads[0]?.sealing.disable_cc, true, 'disable_cc does not concern a snap-up thread');
  });
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The JSON-RPC method of a POST to /rpc/v0. */
  rpc: string | null;
}

/**
 * A gateway in front of the manager: lets through only requests carrying its key, and adds the manager
 * token itself, so the worker behind it needs none. Records every request it gets.
 */
async function startGateway(m: TestManager, key: string): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const token = readFileSync(join(m.home, 'token'), 'utf8').trim();
  const upstream = new URL(m.url);
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let rpc: string | null = null;
      if (req.method === 'POST') {
        try {
          rpc = (JSON.parse(body.toString()) as { method?: string }).method ?? null;
        } catch {
          rpc = null;
        }
      }
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rpc });
      if (req.headers['x-gateway-key'] !== key) {
        res.writeHead(403).end('gateway key required');
        return;
      }
      const headers = { ...req.headers, host: upstream.host, authorization: `Bearer ${token}` };
      const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      forward.on('error', () => res.writeHead(502).end());
      Readable.from([body]).pipe(forward);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const SPEEDS = `seal_interval = "300ms"\nrecover_interval = "200ms"\nrpc_polling_interval = "200ms"\n`;

async function workerToml(dir: string, m: TestManager, body: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'worker.toml');
  writeFileSync(
    path,
    `[worker]\nname = "${dir.split('/').pop() ?? 'w'}"\nping_interval = "500ms"\nrpc_server.port = ${await freePort()}\n${body}\n` +
      `[[attached]]\nname = "local"\nlocation = "${join(m.home, 'persist')}"\n\n[processors]\ndefault = "mock"\n[processors.mock]\nstage_time = "20ms"\n`,
  );
  return path;
}

const managerToken = (m: TestManager): string => readFileSync(join(m.home, 'token'), 'utf8').trim();
const finalized = async (m: TestManager) => m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);

async function stop(...daemons: { kill(): Promise<unknown> }[]): Promise<void> {
  await Promise.all(daemons.map((d) => d.kill()));
}

describe('a worker with damocles keys, against a real manager', () => {
  it('behind a gateway with no token: headers on every call, disable_cc waits for a deal, the piece comes from local_pieces_dirs, no proof polling', async () => {
    const m = await startTestManager(tempDir('damocles-gateway'));
    const gateway = await startGateway(m, 'gw-secret');
    const dir = tempDir('damocles-gateway-worker');
    const bytes = randomBytes(1500);
    const cid = commitmentToCid('unsealed', (await pieceCommitment(Readable.from([bytes]))).commP).toString();
    mkdirSync(join(dir, 'pieces'), { recursive: true });
    writeFileSync(join(dir, 'pieces', `${cid}.car`), bytes);
    const config = await workerToml(
      dir,
      m,
      `local_pieces_dirs = ["pieces"]\n\n[sector_manager]\nrpc_client.addr = "${gateway.url}"\nrpc_client.headers = { X-Gateway-Key = "gw-secret", User-Agent = "jsonrpc-core-client" }\n\n` +
        `[sealing]\n${SPEEDS}max_retries = 30\nenable_deals = true\ndisable_cc = true\nrequest_task_max_retries = 1\nignore_proof_check = true\n\n[[sealing_thread]]\nlocation = "thread-0"\n`,
    );
    let w: TestWorker | undefined;
    try {
      w = await startTestWorker(config);
      const worker = w;
      await worker.daemon.waitFor(/no deal for the sector \(disable_cc: waiting for deals instead of sealing CC\) after 2 asks \(request_task_max_retries 1\)/, 20_000);
      const [waiting] = await worker.list();
      assert.equal(waiting?.job_state, 'Allocated', 'no CC sector is sealed while it waits');
      assert.match(waiting?.thread_state.state === 'Waiting' ? (waiting.thread_state.proc ?? '') : 'Waiting', /no deal for the sector/);

      const deal = join(tempDir('damocles-deal'), 'deal.bin');
      writeFileSync(deal, bytes);
      const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', deal, '--home', m.home]);
      assert.equal(imported.code, 0, imported.stderr);
      assert.equal(imported.stdout.split(/\s+/)[0], cid);
      // The manager cannot serve the piece from here on: only the local copy can seal the sector.
      renameSync(join(m.home, 'pieces', cid), join(m.home, 'pieces', `${cid}.away`));

      const sector = await eventually('the deal sector finalized', async () => (await finalized(m))[0], 60_000);
      const detail = await m.call<SectorDetail>('SealFleet.SectorState', [{ Miner: sector.Miner, Number: sector.Number }]);
      assert.equal(JSON.stringify(detail.Pieces).includes(cid), true, 'the sector holds the deal piece (its CommD was checked at PreCommit)');

      assert.ok(gateway.seen.length > 0);
      for (const s of gateway.seen) {
        assert.equal(s.headers['x-gateway-key'], 'gw-secret', `${s.method} ${s.url} ${s.rpc ?? ''}`);
        assert.equal(s.headers['user-agent'], 'jsonrpc-core-client');
        assert.equal(s.headers.authorization, undefined, 'a worker without a token sends no Authorization');
      }
      const calls = gateway.seen.map((s) => s.rpc);
      assert.ok(calls.filter((c) => c === 'Venus.AcquireDeals').length >= 3, 'deals were asked for again while waiting');
      assert.ok(calls.includes('Venus.SubmitProof') && calls.includes('Venus.ReportFinalized'));
      assert.ok(!calls.includes('Venus.PollProofState'), 'ignore_proof_check: the proof state is not polled');
      assert.ok(!gateway.seen.some((s) => s.url.startsWith('/piecestore/')), 'the piece store was never asked');
      const log = await worker.control.call<ThreadEvent[]>('VenusWorker.WorkerLog', [0, 1000]);
      assert.ok(log.some((e) => e.from === 'ProofSubmitted' && e.to === 'Finished'));
    } finally {
      await stop(...(w ? [w.daemon] : []), m.daemon);
      gateway.server.close();
    }
  });

  it('verify_after_pc2 runs C1 over the PC2 output and pauses in PC2Done when it fails; an unseal thread does not start, a wdpost one idles', async () => {
    const m = await startTestManager(tempDir('damocles-verify'));
    const dir = tempDir('damocles-verify-worker');
    const config = await workerToml(
      dir,
      m,
      `\n[sector_manager]\nrpc_client.addr = "${m.url}"\ntoken = "${managerToken(m)}"\n\n[sealing]\n${SPEEDS}max_retries = 3\n\n` +
        '[[sealing_thread]]\nlocation = "thread-0"\nsealing.verify_after_pc2 = true\n\n[[sealing_thread]]\nplan = "wdpost"\n\n' +
        '[[sealing_thread]]\nlocation = "thread-2"\n\n[[sealing_thread]]\nlocation = "thread-3"\nplan = "unseal"\n',
    );
    // Every C1 fails: the verifying thread must stop before its PreCommit, the other only at its real C1.
    writeFileSync(config, `${readFileSync(config, 'utf8')}fail.c1 = 1\n`);
    let w: TestWorker | undefined;
    try {
      w = await startTestWorker(config);
      const worker = w;
      const out = worker.daemon.stdout();
      const lines = out.split('\n').filter((l) => l.includes('key \\"sealing_thread.3.plan\\"'));
      assert.equal(lines.length, 1, 'one warning for sealing_thread.3');
      assert.match(lines[0] ?? '', /"level":40.*has no effect here: \\"unseal\\": sealfleet-worker has no unseal plan/);
      const paused = await eventually('both sealer threads paused', async () => {
        const list = (await worker.list()).filter((t) => t.plan === 'sealer');
        return list.every((t) => t.thread_state.state === 'Paused') ? list : undefined;
      }, 60_000);
      assert.deepEqual(paused.map((t) => t.index), [0, 2], 'threads keep their [[sealing_thread]] index');
      const wdpost = (await worker.list()).find((t) => t.plan === 'wdpost');
      assert.deepEqual({ index: wdpost?.index, job: wdpost?.job_id, state: wdpost?.job_state }, { index: 1, job: null, state: '' }, 'the wdpost thread waits for a job');
      const [verifying, plain] = paused as [WorkerThreadInfo, WorkerThreadInfo];
      assert.equal(verifying.job_state, 'PC2Done');
      assert.match(verifying.last_error ?? '', /^permanent: verify_after_pc2: C1 with a zero seed over the PC2 output failed, so no PreCommit was submitted \(resume in PC1Done to run PC2 again\): c1 \(mock\): mock failure injected at c1$/);
      const sector = await m.call<SectorDetail>('SealFleet.SectorState', [{ Miner: 1000, Number: Number((verifying.job_id ?? '').split('-')[2]) }]);
      assert.equal(sector.PreCommit, null, 'no PreCommit for the sector that failed its check');
      assert.equal(plain.job_state, 'SeedAssigned', 'without verify_after_pc2 the same C1 failure only shows at C1');
      await assert.rejects(worker.control.call('VenusWorker.WorkerPause', [3]), /thread #3 not found: worker \S+ has threads 0–2$/);
    } finally {
      await stop(...(w ? [w.daemon] : []), m.daemon);
    }
  });

  it('starts and pings with only threads whose plans do not run here', async () => {
    const m = await startTestManager(tempDir('damocles-dormant'));
    const dir = tempDir('damocles-dormant-worker');
    const config = await workerToml(dir, m, `\n[sector_manager]\nrpc_client.addr = "${m.url}"\ntoken = "${managerToken(m)}"\n\n[[sealing_thread]]\nplan = "unseal"\n`);
    let w: TestWorker | undefined;
    try {
      w = await startTestWorker(config);
      const worker = w;
      assert.deepEqual(await worker.list(), []);
      assert.match(worker.daemon.stdout(), /key \\"sealing_thread\.0\.plan\\" is accepted for damocles compatibility and has no effect here/);
      const name = dir.split('/').pop();
      await eventually('the worker pinged', async () => ((await m.call<{ Name: string }[]>('SealFleet.WorkerList')).some((x) => x.Name === name) ? true : undefined));
      assert.deepEqual(await m.call<SectorSummary[]>('SealFleet.SectorsList'), [], 'no sector was allocated');
    } finally {
      await stop(...(w ? [w.daemon] : []), m.daemon);
    }
  });
});
