import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EXTERNAL_DEFAULTS } from '../../src/core/processor/external.js';
import { loadWorkerConfig, managerRpcUrl, type SealingConfig } from '../../src/worker/config.js';
import { tempDir } from '../helpers/processes.js';
import { configFile, refusal } from '../helpers/workerConfig.js';

const MANAGER = `
[sector_manager]
rpc_client.addr = "/ip4/127.0.0.1/tcp/1789"
token = "write-token"
`;
const THREAD = `
[[sealing_thread]]
location = "store1"
`;

const FULL = `
[worker]
name = "worker-01"
ping_interval = "10s"
rpc_server.host = "0.0.0.0"
rpc_server.port = 17999
rpc_server.token = "control-secret"
rpc_server.advertise = "[fd00::5]:18000"

[sector_manager]
rpc_client.addr = "/dns/manager.lan/tcp/1789/https"
token = "write-token"

[sealing]
allowed_miners = [1000, 1001]
allowed_sizes = ["2KiB", "32GiB"]
enable_deals = true
max_deals = 4
min_deal_space = "1KiB"
max_retries = 3
seal_interval = "1min"
recover_interval = "15s"
rpc_polling_interval = "1m30s"
ticket_expiry_check = false

[[sealing_thread]]
location = "store1"

[[sealing_thread]]
location = "/mnt/nvme2/store"
plan = "snapup"
sealing.max_deals = 1
sealing.seal_interval = "5s"
sealing.ticket_expiry_check = true

[[attached]]
name = "persist-1"
location = "persist"
readonly = true

[[attached]]
location = "/mnt/persist2"

[processors]
default = "builtin"

[processors.kinds]
tree_d = "mock"

[processors.limitation.concurrent]
pc1 = 4
c2 = 1

[processors.mock]
stage_time = "10ms"
stage_times.pc1 = "2s"
fail.c2 = 0.25

[[processors.pc2]]
bin = "./bin/sealfleet-proofs"
args = ["processor", "pc2"]
envs = { CUDA_VISIBLE_DEVICES = "0" }
concurrent = 2
timeout = "1h"

[[processors.pc2]]
bin = "sealfleet-proofs"
stable_wait = "30s"
`;


/** A warning without its `config: <file>: ` prefix. */
const withoutFile = (warning: string): string => warning.replace(/^config: \S+: /, '');

describe('worker config', () => {
  it('reads a full example, merging each thread over [sealing] and resolving paths against the file', () => {
    const path = configFile(FULL);
    const dir = join(path, '..');
    const cfg = loadWorkerConfig(path);
    const sealing: SealingConfig = {
      allowed_miners: [1000, 1001],
      allowed_sizes: [2048, 32 * 1024 ** 3],
      enable_deals: true,
      max_deals: 4,
      min_deal_space: 1024,
      max_retries: 3,
      seal_interval: 60_000,
      recover_interval: 15_000,
      rpc_polling_interval: 90_000,
      ticket_expiry_check: false,
      disable_cc: false,
      request_task_max_retries: 3,
      verify_after_pc2: false,
      ignore_proof_check: false,
    };
    assert.deepEqual(cfg, {
      path,
      worker: { name: 'worker-01', rpc_server: { host: '0.0.0.0', port: 17999, token: 'control-secret', advertise: { host: 'fd00::5', port: 18000 } }, ping_interval: 10_000, local_pieces_dirs: [] },
      sector_manager: { urls: ['https://manager.lan:1789/rpc/v0'], token: 'write-token', piece_token: null, headers: {} },
      sealing,
      threads: [
        { index: 0, location: join(dir, 'store1'), plan: 'sealer', sealing },
        {
          index: 1,
          location: '/mnt/nvme2/store',
          plan: 'snapup',
          sealing: { ...sealing, max_deals: 1, seal_interval: 5000, ticket_expiry_check: true },
        },
      ],
      attached: [
        { name: 'persist-1', location: join(dir, 'persist'), read_only: true },
        { name: '/mnt/persist2', location: '/mnt/persist2', read_only: false },
      ],
      processors: {
        default: 'builtin',
        kinds: { tree_d: 'mock', pc2: 'external' },
        limitation: { concurrent: { pc1: 4, c2: 1 }, staggered: {} },
        ext_locks: {},
        static_tree_d: {},
        mock: { stage_time: 10, stage_times: { pc1: 2000 }, fail: { c2: 0.25 } },
        external: {
          pc2: [
            {
              ...EXTERNAL_DEFAULTS,
              bin: join(dir, 'bin', 'sealfleet-proofs'),
              args: ['processor', 'pc2'],
              envs: { CUDA_VISIBLE_DEVICES: '0' },
              concurrent: 2,
              timeout: 3_600_000,
              stable_wait: 5000,
            },
            // damocles' defaults: args for the stage, no limit of its own.
            { ...EXTERNAL_DEFAULTS, bin: 'sealfleet-proofs', args: ['processor', 'pc2'], envs: {}, concurrent: null, timeout: 0, stable_wait: 30_000 },
          ],
        },
      },
      metrics: { enable: false, http_listen: '127.0.0.1:9000' },
      warnings: [],
    });
  });

  it('fills in the defaults', () => {
    const path = configFile(MANAGER + THREAD);
    const cfg = loadWorkerConfig(path);
    // No name: the daemon takes the address that routes to the manager when it starts (damocles' default).
    assert.deepEqual(cfg.worker, { name: null, rpc_server: { host: '127.0.0.1', port: 17890, token: null, advertise: null }, ping_interval: 30_000, local_pieces_dirs: [] });
    assert.deepEqual(cfg.sealing, {
      allowed_miners: null,
      allowed_sizes: null,
      enable_deals: false,
      max_deals: null,
      min_deal_space: null,
      max_retries: 5,
      seal_interval: 30_000,
      recover_interval: 60_000,
      rpc_polling_interval: 180_000,
      ticket_expiry_check: true,
      disable_cc: false,
      request_task_max_retries: 3,
      verify_after_pc2: false,
      ignore_proof_check: false,
    });
    assert.deepEqual(cfg.threads, [{ index: 0, location: join(path, '..', 'store1'), plan: 'sealer', sealing: cfg.sealing }]);
    assert.deepEqual(cfg.attached, []);
    assert.deepEqual(cfg.processors, {
      default: 'mock',
      kinds: {},
      limitation: { concurrent: {}, staggered: {} },
      ext_locks: {},
      static_tree_d: {},
      mock: { stage_time: 50, stage_times: {}, fail: {} },
      external: {},
    });
    assert.deepEqual(cfg.metrics, { enable: false, http_listen: '127.0.0.1:9000' });
    assert.deepEqual(cfg.warnings, []);
  });

  it('normalizes the manager address, multiaddr or URL, to its /rpc/v0 endpoint', () => {
    const cases: [string, string][] = [
      ['/ip4/127.0.0.1/tcp/1789', 'http://127.0.0.1:1789/rpc/v0'],
      ['/ip4/10.0.0.2/tcp/1789/http', 'http://10.0.0.2:1789/rpc/v0'],
      ['/ip6/::1/tcp/1789', 'http://[::1]:1789/rpc/v0'],
      ['/dns4/manager.lan/tcp/443/https', 'https://manager.lan:443/rpc/v0'],
      ['/dns/manager/tcp/1789/', 'http://manager:1789/rpc/v0'],
      ['http://127.0.0.1:1789', 'http://127.0.0.1:1789/rpc/v0'],
      ['http://127.0.0.1:1789/rpc/v1?x=1', 'http://127.0.0.1:1789/rpc/v0'],
      ['https://manager.example.com/', 'https://manager.example.com/rpc/v0'],
    ];
    for (const [addr, url] of cases) assert.equal(managerRpcUrl(addr), url, addr);
    for (const bad of ['127.0.0.1:1789', '/ip4/::1/tcp/1789', '/ip4/127.0.0.1/udp/1789', '/ip4/127.0.0.1/tcp/0', 'ftp://manager/', '']) {
      assert.throws(() => managerRpcUrl(bad), /invalid manager address .*expected a multiaddr like \/ip4\/127.0.0.1\/tcp\/1789 or an http\(s\) URL/, bad);
    }
    const reason = refusal(`[sector_manager]\nrpc_client.addr = "localhost:1789"\ntoken = "t"\n${THREAD}`);
    assert.match(reason, /^sector_manager\.rpc_client\.addr: invalid manager address "localhost:1789": expected a multiaddr like \/ip4\/127\.0\.0\.1\/tcp\/1789 or an http\(s\) URL like http:\/\/127\.0\.0\.1:1789$/);
  });

  it('reads rpc_server.advertise as host, host:port or [IPv6]:port, and refuses what cannot be dialled', () => {
    const advertise = (value: string) => loadWorkerConfig(configFile(`${MANAGER}${THREAD}[worker]\nrpc_server.advertise = "${value}"\n`)).worker.rpc_server.advertise;
    assert.deepEqual(advertise('10.0.0.5'), { host: '10.0.0.5', port: null });
    assert.deepEqual(advertise('10.0.0.5:18000'), { host: '10.0.0.5', port: 18000 });
    assert.deepEqual(advertise('worker-3.lan:17890'), { host: 'worker-3.lan', port: 17890 });
    assert.deepEqual(advertise('fd00::5'), { host: 'fd00::5', port: null });
    assert.deepEqual(advertise('[fd00::5]'), { host: 'fd00::5', port: null });
    assert.deepEqual(advertise('[fd00::5]:18000'), { host: 'fd00::5', port: 18000 });
    const bad = (value: string) => refusal(`${MANAGER}${THREAD}[worker]\nrpc_server.advertise = "${value}"\n`);
    assert.equal(bad('0.0.0.0'), 'worker.rpc_server.advertise: invalid address "0.0.0.0": 0.0.0.0 means every interface, which no one can dial: give an address of this host the manager reaches');
    assert.match(bad('[::]:17890'), /^worker\.rpc_server\.advertise: invalid address "\[::\]:17890": :: means every interface/);
    assert.equal(bad('10.0.0.5:0'), 'worker.rpc_server.advertise: invalid address "10.0.0.5:0": port 0 is out of range 1–65535');
    assert.equal(bad('10.0.0.5:99999'), 'worker.rpc_server.advertise: invalid address "10.0.0.5:99999": port 99999 is out of range 1–65535');
    assert.match(bad('[10.0.0.5]:1'), /"10\.0\.0\.5" in brackets is not an IPv6 address; expected host, host:port or \[IPv6\]:port/);
    assert.match(bad('http://10.0.0.5'), /^worker\.rpc_server\.advertise: invalid address "http:\/\/10\.0\.0\.5": expected host, host:port or \[IPv6\]:port/);
    assert.match(bad('bad host'), /"bad host" is neither an IP address nor a host name/);
    assert.match(bad('fd00::5:18000:x'), /^worker\.rpc_server\.advertise: invalid address "fd00::5:18000:x": expected host/);
  });

  it('names an unknown key with its dotted path', () => {
    assert.equal(refusal(`${MANAGER}${THREAD}[sealing]\nmax_retry = 3\n`), 'unknown key sealing.max_retry');
    assert.equal(refusal(`${MANAGER}${THREAD}sealing.allowed_size = ["2KiB"]\n`), 'unknown key sealing_thread.0.sealing.allowed_size');
    assert.equal(refusal(`${MANAGER}${THREAD}[worker]\nrpc_server.hots = "127.0.0.1"\n`), 'unknown key worker.rpc_server.hots');
    assert.equal(refusal(`${MANAGER}${THREAD}[attached_selection]\nenable_space_weighted = true\n`), 'unknown key attached_selection');
    assert.equal(refusal(`${MANAGER}${THREAD}[[processors.pc1]]\nbin = "p"\nnuma_prefered = 0\n`), 'unknown key processors.pc1.0.numa_prefered');
  });

  it('names the key and what was expected for a bad value', () => {
    assert.match(refusal(`${MANAGER}${THREAD}[sealing]\nseal_interval = "30 seconds"\n`), /^sealing\.seal_interval: invalid duration "30 seconds": expected e\.g\. 30s, 1min/);
    assert.match(refusal(`${MANAGER}${THREAD}sealing.recover_interval = 60\n`), /^sealing_thread\.0\.sealing\.recover_interval: .*expected string/);
    assert.match(refusal(`${MANAGER}${THREAD}[sealing]\nallowed_sizes = ["2KB"]\n`), /^sealing\.allowed_sizes\.0: invalid sector size "2KB": expected one of 2KiB, 8MiB, 512MiB, 32GiB, 64GiB/);
    assert.match(refusal(`${MANAGER}${THREAD}[sealing]\nmin_deal_space = "lots"\n`), /^sealing\.min_deal_space: invalid size "lots": expected a byte count or a value like 2KiB/);
    assert.match(refusal(`${MANAGER}${THREAD}plan = "niporep"\n`), /^sealing_thread\.0\.plan: unknown plan "niporep": expected one of sealer, snapup, rebuild, wdpost, unseal$/);
    assert.match(refusal(`${MANAGER}${THREAD}[processors.mock]\nfail.pc1 = 1.5\n`), /^processors\.mock\.fail\.pc1: .*<=1/);
    assert.match(refusal(`${MANAGER}${THREAD}[processors]\ndefault = "gpu"\n`), /^processors\.default: .*"mock"\|"builtin"\|"external"/);
  });

  it('refuses an unknown stage anywhere, naming it and listing the stages', () => {
    const stages = /one of add_pieces, tree_d, pc1, pc2, c1, c2, .*transfer/;
    for (const [toml, key] of [
      ['[processors.kinds]\npc3 = "mock"', 'processors.kinds.pc3'],
      ['[processors.limitation.concurrent]\nwindowpost = 1', 'processors.limitation.concurrent.windowpost'],
      ['[processors.mock]\nstage_times.PC1 = "1s"', 'processors.mock.stage_times.PC1'],
      ['[processors.mock]\nfail.unseal = 0.5', 'processors.mock.fail.unseal'],
    ] as const) {
      const reason = refusal(`${MANAGER}${THREAD}${toml}\n`);
      assert.ok(reason.startsWith(`${key}: unknown stage "${key.split('.').pop()}": `), reason);
      assert.match(reason, stages);
    }
    const reason = refusal(`${MANAGER}${THREAD}[[processors.sealing_daemon]]\nbin = "x"\n`);
    assert.match(reason, /^processors\.sealing_daemon: unknown key: expected default, kinds, limitation, limit, ext_locks, static_tree_d, mock, sidecar or a \[\[processors\.<stage>\]\] section/);
    assert.match(reason, stages);
  });

  it('checks the rules across keys', () => {
    assert.equal(refusal(MANAGER), 'sealing_thread: expected at least one [[sealing_thread]]');
    assert.equal(
      refusal(`${MANAGER}${THREAD}[[sealing_thread]]\nlocation = "./store1/"\nplan = "snapup"\n`).replace(/\/\S*\/store1/, '<dir>/store1'),
      'sealing_thread.1.location <dir>/store1 is already the location of sealing_thread.0',
    );
    // Beyond loopback the control API takes the manager's tokens, so rpc_server.token is not required.
    for (const host of ['localhost', '127.0.0.2', '::1', '0.0.0.0', '192.168.1.5']) {
      assert.equal(loadWorkerConfig(configFile(`${MANAGER}${THREAD}[worker]\nrpc_server.host = "${host}"\n`)).worker.rpc_server.host, host);
    }
    assert.equal(
      refusal(`${MANAGER}${THREAD}[processors.kinds]\npc1 = "mock"\n[[processors.pc1]]\nbin = "p"\n`),
      'processors.kinds.pc1 is "mock", but [[processors.pc1]] configures an external processor',
    );
    assert.equal(
      refusal(`${MANAGER}${THREAD}[[attached]]\nname = "p"\nlocation = "a"\n[[attached]]\nname = "p"\nlocation = "b"\n`),
      'attached.1: the store name "p" is used twice',
    );
    assert.equal(refusal(THREAD), 'sector_manager: missing: expected rpc_client.addr of the manager');
  });

  it('turns "sidecar" into sealfleet-proofs processors, keeping transfer and URL pieces in TypeScript', () => {
    const dir = tempDir('worker-config-sidecar');
    const bin = join(dir, 'sealfleet-proofs');
    writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    const path = join(dir, 'worker.toml');
    writeFileSync(path, `${MANAGER}${THREAD}${THREAD.replace('store1', 'store2')}[processors]\ndefault = "sidecar"\n[processors.sidecar]\nbin = "./sealfleet-proofs"\ntimeout = "1h"\n[processors.kinds]\npc1 = "mock"\n`);
    const { processors } = loadWorkerConfig(path);
    assert.equal(processors.kinds.pc1, 'mock');
    assert.equal(processors.kinds.add_pieces, 'builtin');
    assert.equal(processors.kinds.transfer, 'builtin');
    assert.equal(processors.external.pc1, undefined);
    for (const stage of ['tree_d', 'pc2', 'c1', 'c2', 'snap_encode', 'snap_prove', 'piece_commitment'] as const) {
      assert.equal(processors.kinds[stage], 'external', stage);
      const [entry] = processors.external[stage] ?? [];
      assert.equal(entry?.bin, bin);
      assert.deepEqual(entry?.args, ['processor', stage]);
      assert.equal(entry?.concurrent, 2, 'one task per thread at most');
      assert.equal(entry?.timeout, 3_600_000);
      assert.ok(entry?.envs.FIL_PROOFS_PARAMETER_CACHE, 'the parameter cache is passed on');
    }
    assert.equal(
      refusal(`${MANAGER}${THREAD}[processors]\ndefault = "sidecar"\n[processors.sidecar]\nbin = "/nonexistent/sealfleet-proofs"\n`),
      'processors default = "sidecar" needs the sealfleet-proofs sidecar, but /nonexistent/sealfleet-proofs is not an executable file: build it with "npm run build:proofs", or give its path',
    );
    assert.equal(
      refusal(`${MANAGER}${THREAD}[processors.sidecar]\nbin = "${bin}"\n[processors.kinds]\ntransfer = "sidecar"\n`),
      'processors.kinds.transfer is "sidecar", but sealfleet-proofs has no transfer stage: use "builtin"',
    );
  });

  it('reports a file that is not TOML, with the line', () => {
    assert.throws(() => loadWorkerConfig(configFile('[worker\n')), /^Error: cannot read worker config \S*worker\.toml \(line 1, column \d+\): /);
  });
});

describe('worker config: damocles processor keys and [metrics]', () => {
  /** A directory with a stand-in sealfleet-proofs (config loading only checks that it is an executable file). */
  function withSidecar(): { dir: string; bin: string; path: (text: string) => string } {
    const dir = tempDir('worker-config-processors');
    const bin = join(dir, 'sealfleet-proofs');
    writeFileSync(bin, '#!/bin/sh\n', { mode: 0o755 });
    return {
      dir,
      bin,
      path: (text) => {
        const path = join(dir, 'worker.toml');
        writeFileSync(path, `${MANAGER}${THREAD}[processors.sidecar]\nbin = "./sealfleet-proofs"\n${text}`);
        return path;
      },
    };
  }

  it('reads a damocles processors section: what is implemented is configured, the rest warns once per key', () => {
    const { dir, bin, path } = withSidecar();
    writeFileSync(join(dir, 'tree-d-2KiB.dat'), Buffer.alloc(2 * 2048 - 32));
    const cfg = loadWorkerConfig(
      path(`
[processors.limitation.concurrent]
pc1 = 2
window_post = 1

[processors.limitation.staggered]
pc1 = "5min"
c2 = "500ms"

[processors.ext_locks]
gpu = 1

[processors.static_tree_d]
2KiB = "tree-d-2KiB.dat"

[[processors.pc1]]
numa_preferred = 0
cgroup.cpuset = "0-7,12"
cgroup.group_name = "vc-worker"
concurrent = 2
inherit_envs = false
auto_restart = false
envs = { FIL_PROOFS_USE_MULTICORE_SDR = "1" }

[[processors.pc2]]
bin = "/opt/gpu-pc2"
locks = ["gpu", "nvme"]

[[processors.unseal]]
bin = "/opt/unseal"

[metrics]
enable = true
http_listen = "0.0.0.0:9100"
`),
    );
    const { processors } = cfg;
    assert.deepEqual(processors.limitation, { concurrent: { pc1: 2, window_post: 1 }, staggered: { pc1: 300_000 } });
    assert.deepEqual(processors.ext_locks, { gpu: 1 });
    assert.deepEqual(processors.static_tree_d, { 2048: join(dir, 'tree-d-2KiB.dat') });
    const [pc1] = processors.external.pc1 ?? [];
    assert.deepEqual(pc1, {
      bin,
      args: ['processor', 'pc1'],
      envs: { FIL_PROOFS_PARAMETER_CACHE: pc1?.envs.FIL_PROOFS_PARAMETER_CACHE, FIL_PROOFS_PARENT_CACHE: pc1?.envs.FIL_PROOFS_PARENT_CACHE, FIL_PROOFS_USE_MULTICORE_SDR: '1' },
      inherit_envs: false,
      concurrent: 2,
      locks: [],
      auto_restart: false,
      timeout: 0,
      stable_wait: 5000,
      cpuset: '0-7,12',
      numa_preferred: 0,
    });
    assert.ok(pc1?.envs.FIL_PROOFS_PARAMETER_CACHE, 'an entry without bin is the sidecar, with its caches');
    assert.deepEqual(processors.external.pc2?.[0]?.locks, ['gpu', 'nvme']);
    assert.deepEqual(processors.external.pc2?.[0]?.args, ['processor', 'pc2']);
    assert.equal(processors.kinds.pc1, 'external');
    assert.deepEqual(cfg.metrics, { enable: true, http_listen: '0.0.0.0:9100' });
    assert.deepEqual(cfg.warnings.map(withoutFile).sort(), [
      'key "processors.pc1.0.cgroup.group_name" is accepted for damocles compatibility and has no effect here',
      'key "processors.unseal" is accepted for damocles compatibility and has no effect here',
      'processors.limitation.staggered.c2 = 500ms is ignored: a stagger under 1s has no effect (as in damocles)',
      'processors.pc2.0.locks: "nvme" is not in [processors.ext_locks], so it limits nothing (as in damocles)',
    ]);
  });

  it('runs a bin-less [[processors.transfer]] (as in damocles\' sample config) in the builtin transfer', () => {
    const { path } = withSidecar();
    const cfg = loadWorkerConfig(path('[[processors.transfer]]\nconcurrent = 2\n'));
    assert.equal(cfg.processors.kinds.transfer, 'builtin');
    assert.equal(cfg.processors.external.transfer, undefined);
  });

  it('reads the older processors.limit only without limitation.concurrent', () => {
    const { path } = withSidecar();
    assert.deepEqual(loadWorkerConfig(path('[processors.limit]\npc1 = 3\n')).processors.limitation.concurrent, { pc1: 3 });
    const both = loadWorkerConfig(path('[processors.limit]\npc1 = 3\n[processors.limitation.concurrent]\npc2 = 1\n'));
    assert.deepEqual(both.processors.limitation.concurrent, { pc2: 1 });
    assert.deepEqual(both.warnings.map(withoutFile), ['processors.limit is ignored: processors.limitation.concurrent is set']);
  });

  it('refuses bad values of the processor keys, naming the key and what was expected', () => {
    const { path } = withSidecar();
    const reason = (text: string): string => {
      const file = path(text);
      try {
        loadWorkerConfig(file);
      } catch (err) {
        return (err as Error).message.replace(`invalid worker config ${file}: `, '');
      }
      return assert.fail('the config was accepted');
    };
    assert.equal(reason('[[processors.pc1]]\ncgroup.cpusets = "0-3"\n'), 'unknown key processors.pc1.0.cgroup.cpusets');
    assert.equal(reason('[[processors.pc1]]\ninherit_env = true\n'), 'unknown key processors.pc1.0.inherit_env');
    assert.equal(reason('[processors.limitation]\nstagered.pc1 = "1min"\n'), 'unknown key processors.limitation.stagered');
    assert.equal(reason('[metrics]\nlisten = "127.0.0.1:9000"\n'), 'unknown key metrics.listen');
    assert.match(reason('[[processors.pc1]]\ncgroup.cpuset = "0-3,x"\n'), /^processors\.pc1\.0\.cgroup\.cpuset: invalid CPU list "0-3,x": expected CPU numbers and ranges like 0-7,16$/);
    assert.match(reason('[[processors.pc1]]\ncgroup.cpuset = "7-3"\n'), /^processors\.pc1\.0\.cgroup\.cpuset: invalid CPU list "7-3": the range 7-3 runs backwards$/);
    assert.match(reason('[[processors.pc1]]\nnuma_preferred = -1\n'), /^processors\.pc1\.0\.numa_preferred: .*>=0/);
    assert.match(reason('[[processors.pc1]]\nauto_restart = "yes"\n'), /^processors\.pc1\.0\.auto_restart: .*expected boolean/);
    assert.match(reason('[[processors.pc1]]\nlocks = "gpu"\n'), /^processors\.pc1\.0\.locks: .*expected array/);
    assert.match(reason('[processors.ext_locks]\ngpu = 0\n'), /^processors\.ext_locks\.gpu: .*>0/);
    assert.match(reason('[processors.limitation.staggered]\npc1 = "soon"\n'), /^processors\.limitation\.staggered\.pc1: invalid duration "soon"/);
    assert.match(reason('[processors.limitation.staggered]\npc3 = "1min"\n'), /^processors\.limitation\.staggered\.pc3: unknown stage "pc3": expected one of add_pieces/);
    assert.match(reason('[processors.limit]\npc1 = 0\n'), /^processors\.limit\.pc1: .*>0/);
    assert.equal(
      reason('[[processors.transfer]]\nbin = "/bin/true"\n[[processors.transfer]]\nconcurrent = 2\n'),
      'processors.transfer.1 has no bin, so it would run in sealfleet-proofs, which has no transfer stage: give bin',
    );
    assert.match(reason('[processors.static_tree_d]\n33GiB = "/tmp"\n'), /^processors\.static_tree_d\."33GiB": invalid sector size "33GiB": expected one of 2KiB/);
    assert.match(reason('[processors.static_tree_d]\n2KiB = "missing.dat"\n'), /^processors\.static_tree_d\."2KiB": cannot read \S+\/missing\.dat: ENOENT$/);
    assert.match(reason('[processors.static_tree_d]\n2KiB = "."\n'), /^processors\.static_tree_d\."2KiB": \S+ is not a file$/);
    assert.match(reason('[processors.static_tree_d]\n2KiB = "sealfleet-proofs"\n'), /^processors\.static_tree_d\."2KiB": \S+\/sealfleet-proofs has 10 bytes, but the tree_d of a 2KiB sector has 4064$/);
    assert.match(reason('[metrics]\nhttp_listen = "9000"\n'), /^metrics\.http_listen: invalid listen address "9000": expected host:port/);
    assert.match(reason('[metrics]\nenable = 1\n'), /^metrics\.enable: .*expected boolean/);
  });

  it('refuses an entry without bin when there is no sealfleet-proofs, naming the entry', () => {
    const reason = refusal(`${MANAGER}${THREAD}[processors.sidecar]\nbin = "/nonexistent/sealfleet-proofs"\n[[processors.pc1]]\nconcurrent = 1\n`);
    assert.equal(reason, 'processors.pc1.0 without bin needs the sealfleet-proofs sidecar, but /nonexistent/sealfleet-proofs is not an executable file: build it with "npm run build:proofs", or give its path');
  });
});
