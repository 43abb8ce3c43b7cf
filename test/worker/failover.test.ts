import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { RpcClient, type EndpointSwitch } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError, RpcTransportError } from '../../src/core/rpc/errors.js';
import { method, RpcServer, serveHttp } from '../../src/core/rpc/server.js';
import type { WorkerThreadInfo } from '../../src/core/wire/workerControl.js';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { eventually, startTestManager, type TestManager } from '../helpers/manager.js';
import { freePort, MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

const listening = (server: Server | HttpServer, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

/** A TCP proxy to a port on loopback that can be cut (listener closed, every connection destroyed) and opened again on its port. */
class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted so far. */
  connections = 0;
  port = 0;

  constructor(private readonly target: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    this.port = await listening(server, this.port);
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise((resolve) => server.close(resolve));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

/** Loads a worker config with `rpc_client.addr = <addr>` (TOML text) and returns the one-line reason it is refused. */
function addrRefusal(addr: string): string {
  const dir = tempDir('failover-config');
  const path = join(dir, 'worker.toml');
  writeFileSync(path, `[sector_manager]\nrpc_client.addr = ${addr}\n\n[[sealing_thread]]\nlocation = "t0"\n`);
  try {
    loadWorkerConfig(path);
  } catch (err) {
    const message = (err as Error).message;
    assert.ok(message.startsWith(`invalid worker config ${path}: `), message);
    return message.slice(`invalid worker config ${path}: `.length);
  }
  assert.fail(`rpc_client.addr = ${addr} was accepted`);
}

describe('rpc_client.addr with several managers', () => {
  it('takes a TOML array of multiaddrs and URLs, in its order', () => {
    const path = join(tempDir('failover-config'), 'worker.toml');
    writeFileSync(path, `[sector_manager]\nrpc_client.addr = ["/ip4/10.0.0.2/tcp/1789", "https://manager-b.lan:1789/x"]\n\n[[sealing_thread]]\nlocation = "t0"\n`);
    assert.deepEqual(loadWorkerConfig(path).sector_manager.urls, ['http://10.0.0.2:1789/rpc/v0', 'https://manager-b.lan:1789/rpc/v0']);
  });

  it('refuses an empty list, a manager listed twice, a bad entry (naming its position) and a comma-separated string', () => {
    assert.match(addrRefusal('[]'), /^sector_manager\.rpc_client\.addr: an empty list: expected at least one manager address/);
    assert.equal(
      addrRefusal('["/ip4/127.0.0.1/tcp/1789", "/ip4/10.0.0.3/tcp/1789", "http://127.0.0.1:1789/rpc/v0"]'),
      'sector_manager.rpc_client.addr.2: "http://127.0.0.1:1789/rpc/v0" is the manager of entry 0 ("/ip4/127.0.0.1/tcp/1789") again: expected each manager once',
    );
    assert.match(
      addrRefusal('["/ip4/127.0.0.1/tcp/1789", "10.0.0.3:1789"]'),
      /^sector_manager\.rpc_client\.addr\.1: invalid manager address "10\.0\.0\.3:1789": expected a multiaddr like \/ip4\/127\.0\.0\.1\/tcp\/1789 or an http\(s\) URL/,
    );
    assert.match(addrRefusal('["/ip4/127.0.0.1/tcp/1789", 1790]'), /^sector_manager\.rpc_client\.addr: expected the manager address, e\.g\. \/ip4\/127\.0\.0\.1\/tcp\/1789, or an array of such addresses$/);
    assert.match(addrRefusal('"http://10.0.0.2:1789,http://10.0.0.3:1789"'), /^sector_manager\.rpc_client\.addr: invalid manager address "http:\/\/10\.0\.0\.2:1789,http:\/\/10\.0\.0\.3:1789"/);
    const many = JSON.stringify(Array.from({ length: 17 }, (_, i) => `/ip4/10.0.0.${i + 1}/tcp/1789`));
    assert.equal(addrRefusal(many), 'sector_manager.rpc_client.addr: 17 manager addresses: expected at most 16');
  });

  it('the daemon refuses to start with a bad list, exit code non-zero', async () => {
    const path = join(tempDir('failover-config'), 'worker.toml');
    writeFileSync(path, `[sector_manager]\nrpc_client.addr = []\n\n[[sealing_thread]]\nlocation = "t0"\n`);
    const run = await runCli(WORKER_BIN, ['daemon', '-c', path]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /sector_manager\.rpc_client\.addr: an empty list: expected at least one manager address/);
  });
});

/** A JSON-RPC server of the endpoints' shared state; while `down`, its gateway answers 503 in its name. */
interface Endpoint {
  url: string;
  hits: () => number;
  down: boolean;
  close: () => Promise<void>;
}

async function rpcServer(): Promise<Endpoint> {
  const server = new RpcServer({ maxBodyBytes: 4096, authorize: () => ({ perm: 'read', credential: null, worker: null }) });
  let hits = 0;
  server.register({
    'Test.Echo': method([z.string()], (text) => text),
    'Test.Fail': method([], () => {
      throw new RpcError(RPC_CODES.Application, 'no such sector');
    }),
  });
  const endpoint: Endpoint = { url: '', hits: () => hits, down: false, close: async () => undefined };
  const http = await serveHttp('127.0.0.1:0', {
    '/rpc/v0': (req, res) => {
      hits++;
      if (!endpoint.down) return server.handle(req, res);
      req.resume();
      res.writeHead(503).end('upstream down');
    },
  });
  return Object.assign(endpoint, { url: `${http.url}/rpc/v0`, close: http.close });
}

describe('RPC client failover between endpoints (real HTTP servers)', () => {
  /** Answers `Test.Echo` and fails `Test.Fail` with an error answer; counts requests. */
  let answering: Endpoint;
  /** Like `answering`, another server of the same state. */
  let second: Endpoint;
  /** A gateway whose server is down: 503 to everything, or silence when `hang` is set. */
  let gateway: HttpServer;
  let gatewayUrl = '';
  let gatewayHits = 0;
  let hang = false;
  /** Nothing listens there. */
  let refusedUrl = '';

  before(async () => {
    answering = await rpcServer();
    second = await rpcServer();
    gateway = createHttpServer((req, res) => {
      gatewayHits++;
      req.resume();
      if (hang) return;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream down');
    });
    gatewayUrl = `http://127.0.0.1:${await listening(gateway)}/rpc/v0`;
    refusedUrl = `http://127.0.0.1:${await freePort()}/rpc/v0`;
  });
  after(async () => {
    gateway.closeAllConnections();
    await new Promise((resolve) => gateway.close(resolve));
    await Promise.all([answering.close(), second.close()]);
  });

  it('skips a refusing endpoint and a 503, each tried once, then sticks to the one that answered', async () => {
    const switches: EndpointSwitch[] = [];
    const client = new RpcClient({ url: [refusedUrl, gatewayUrl, answering.url], onSwitch: (s) => switches.push(s) });
    const gatewayBefore = gatewayHits;
    assert.equal(await client.call('Test.Echo', ['one']), 'one');
    assert.equal(gatewayHits, gatewayBefore + 1);
    assert.deepEqual(switches, [{ from: refusedUrl, to: answering.url, why: 'ECONNREFUSED' }]);
    assert.deepEqual(client.urls, [answering.url, refusedUrl, gatewayUrl]);
    const hits = answering.hits();
    assert.equal(await client.call('Test.Echo', ['two']), 'two');
    assert.equal(answering.hits(), hits + 1);
    assert.equal(gatewayHits, gatewayBefore + 1, 'the current endpoint is asked first');
    assert.equal(switches.length, 1);
  });

  it('does not fail over on a JSON-RPC error answer: the error is the answer', async () => {
    const switches: EndpointSwitch[] = [];
    const client = new RpcClient({ url: [answering.url, second.url], onSwitch: (s) => switches.push(s) });
    const secondHits = second.hits();
    await assert.rejects(client.call('Test.Fail'), (e: RpcError) => e instanceof RpcError && e.code === RPC_CODES.Application && e.message === 'no such sector');
    await assert.rejects(client.call('Test.Nope'), (e: RpcError) => e instanceof RpcError && e.code === RPC_CODES.MethodNotFound);
    assert.equal(second.hits(), secondHits);
    assert.deepEqual(switches, []);
    assert.equal(client.url, answering.url);
  });

  it('fails over on a timeout, and says which endpoints failed how when none answered', async () => {
    hang = true;
    try {
      const switches: EndpointSwitch[] = [];
      const client = new RpcClient({ url: [gatewayUrl, answering.url], timeoutMs: 500, onSwitch: (s) => switches.push(s) });
      assert.equal(await client.call('Test.Echo', ['late']), 'late');
      assert.deepEqual(switches, [{ from: gatewayUrl, to: answering.url, why: 'timed out after 500ms' }]);
    } finally {
      hang = false;
    }
    const down = new RpcClient({ url: [refusedUrl, gatewayUrl] });
    const gatewayBefore = gatewayHits;
    await assert.rejects(down.call('Test.Echo', ['x']), (e: Error) => {
      assert.ok(e instanceof RpcTransportError);
      assert.equal(e.message, `Test.Echo: none of 2 endpoints answered: ${refusedUrl} failed: connect ECONNREFUSED ${new URL(refusedUrl).host}; ${gatewayUrl} HTTP 503: upstream down`);
      return true;
    });
    assert.equal(gatewayHits, gatewayBefore + 1, 'each endpoint is tried once per call');
    assert.equal(down.url, refusedUrl, 'no endpoint answered: the current one stays');
    // One endpoint: the error reads as it always did.
    await assert.rejects(new RpcClient({ url: refusedUrl }).call('Test.Echo', ['x']), { name: 'RpcTransportError', message: `Test.Echo to ${refusedUrl} failed: connect ECONNREFUSED ${new URL(refusedUrl).host}` });
  });

  it('rotates: after a switch it stays on the new endpoint, and comes back to the first when the new one fails', async () => {
    const switches: EndpointSwitch[] = [];
    const client = new RpcClient({ url: [answering.url, second.url], onSwitch: (s) => switches.push(s) });
    assert.equal(await client.call('Test.Echo', ['a']), 'a');
    answering.down = true;
    try {
      assert.equal(await client.call('Test.Echo', ['b']), 'b');
    } finally {
      answering.down = false;
    }
    const firstHits = answering.hits();
    assert.equal(await client.call('Test.Echo', ['c']), 'c');
    assert.equal(answering.hits(), firstHits, 'the first endpoint is back, but the one that works is kept');
    second.down = true;
    try {
      assert.equal(await client.call('Test.Echo', ['d']), 'd');
    } finally {
      second.down = false;
    }
    assert.deepEqual(switches, [
      { from: answering.url, to: second.url, why: 'HTTP 503' },
      { from: second.url, to: answering.url, why: 'HTTP 503' },
    ]);
  });
});

describe('a worker fails over between managers (real processes)', () => {
  let m: TestManager;
  let token: string;
  const finalized = async (): Promise<number> => (await m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }])).length;
  const moreFinalized = async (what: string, more: number): Promise<void> => {
    const from = await finalized();
    await eventually(what, async () => ((await finalized()) >= from + more ? true : undefined), 90_000);
  };
  const switchLines = (stdout: string): string[] => stdout.split('\n').filter((l) => l.includes('unreachable ('));

  before(async () => {
    m = await startTestManager(tempDir('failover'));
    token = readFileSync(join(m.home, 'token'), 'utf8').trim();
  });
  after(async () => {
    await m?.daemon.kill();
  });

  it('keeps sealing through the other manager when one is cut, and back again when that one is cut', async () => {
    const target = Number(new URL(m.url).port);
    const a = new CuttableProxy(target);
    const b = new CuttableProxy(target);
    await Promise.all([a.open(), b.open()]);
    const dir = tempDir('failover-worker');
    const w = await startTestWorker(await writeWorkerConfig(dir, m, { managerAddrs: [a.url, `/ip4/127.0.0.1/tcp/${b.port}`] }));
    try {
      await moreFinalized('a sector sealed through the first manager', 1);
      assert.ok(a.connections > 0);
      assert.equal(b.connections, 0, 'the worker sticks to the first manager while it answers');

      await a.cut();
      // A deal imported now is fetched from the piece store of the manager the worker uses now.
      const payload = join(dir, 'deal.bin');
      writeFileSync(payload, randomBytes(1500));
      const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', m.home]);
      assert.equal(imported.code, 0, imported.stderr);
      await moreFinalized('sectors sealed through the second manager', 2);
      await eventually('the deal piece sealed', async () => {
        const pieces = await m.call<{ Status: string }[]>('SealFleet.PiecesList');
        return pieces[0]?.Status === 'sealed' ? true : undefined;
      }, 90_000);
      assert.ok(b.connections > 0);
      const firstSwitch = switchLines(w.daemon.stdout());
      assert.equal(firstSwitch.length, 1, w.daemon.stdout());
      assert.match(firstSwitch[0] ?? '', new RegExp(`"manager http://127\\.0\\.0\\.1:${a.port} unreachable \\([^)]+\\); using http://127\\.0\\.0\\.1:${b.port}"`));

      await a.open();
      const aConnections = a.connections;
      await moreFinalized('a sector sealed after the first manager is back', 1);
      assert.equal(a.connections, aConnections, 'the worker stays with the manager that works');

      await b.cut();
      await moreFinalized('sectors sealed through the first manager again', 2);
      assert.ok(a.connections > aConnections);
      const switches = switchLines(w.daemon.stdout());
      assert.equal(switches.length, 2, w.daemon.stdout());
      assert.match(switches[1] ?? '', new RegExp(`"manager http://127\\.0\\.0\\.1:${b.port} unreachable \\([^)]+\\); using http://127\\.0\\.0\\.1:${a.port}"`));

      for (const t of await w.list()) assert.notEqual(t.thread_state.state, 'Paused', `thread ${t.index}: ${t.last_error}`);
      assert.ok(!w.daemon.stdout().includes(token) && !w.daemon.stderr().includes(token), 'no token in the logs');
    } finally {
      await w.daemon.kill();
      await Promise.all([a.cut(), b.cut()]);
    }
  });

  it('starts with a dead first manager: name, address, sealing and token checks go to the live one', async () => {
    const dead = await freePort();
    const dir = tempDir('failover-dead-first');
    const port = await freePort();
    const path = await writeWorkerConfig(dir, m, { port, threads: [{ plan: 'sealer' }], managerAddrs: [`/ip4/127.0.0.1/tcp/${dead}`, m.url] });
    // No name: the worker is named by its address towards the manager, found on a connection to the live one.
    // Listening on every interface, its control API takes manager tokens, which the live manager checks.
    writeFileSync(path, readFileSync(path, 'utf8').replace('name = "test-worker"\n', 'rpc_server.host = "0.0.0.0"\n'));
    const w = await startTestWorker(path);
    try {
      await moreFinalized('a sector sealed by the worker with a dead first manager', 1);
      const pinged = await eventually('the ping of the worker named by its address', async () => {
        const rows = await m.call<{ Name: string; Dest: string }[]>('SealFleet.WorkerList');
        return rows.find((r) => r.Name === '127.0.0.1');
      });
      assert.equal(pinged.Dest, `127.0.0.1:${port}`);
      const threads = await new RpcClient({ url: w.control.url, token, timeoutMs: 10_000 }).call<WorkerThreadInfo[]>('VenusWorker.WorkerList');
      assert.equal(threads.length, 1);
      const switches = switchLines(w.daemon.stdout());
      assert.equal(switches.length, 1, w.daemon.stdout());
      assert.match(switches[0] ?? '', new RegExp(`"manager http://127\\.0\\.0\\.1:${dead} unreachable \\(ECONNREFUSED\\); using ${m.url.replace(/\./g, '\\.')}"`));
    } finally {
      await w.daemon.kill();
    }
  });
});
