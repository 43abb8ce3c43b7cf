import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders } from 'node:http';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commitmentToCid } from '../../src/core/commitment.js';
import { pieceCommitment, unpaddedPieceSize } from '../../src/core/piece.js';
import { RPC_CODES } from '../../src/core/rpc/errors.js';
import { allows, type Permission } from '../../src/core/rpc/server.js';
import { formatSectorId } from '../../src/core/sectorId.js';
import { SubmitResult, type AllocatedSector, type SectorPieceV2 } from '../../src/core/wire/sealer.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { isWide, parseNetwork, TrustedNetworks } from '../../src/manager/trustedNetworks.js';
import { eventually, registeredManagerMethods, startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

/** The damocles worker's host (inside the trusted 127.0.0.2/31), a second host there, and one outside. */
const WORKER_HOST = '127.0.0.2';
const NEIGHBOUR_HOST = '127.0.0.3';
const OUTSIDE_HOST = '127.0.0.9';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request from `from` (the client socket's local address, which the manager sees as the source). */
function send(url: string, opts: { from: string; method?: string; body?: string; headers?: Record<string, string> }): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: opts.method ?? 'GET', localAddress: opts.from, headers: opts.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const b64Bytes = (text: string): number => Buffer.from(text, 'base64').length;
const isBase64 = (text: unknown): boolean => typeof text === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(text) && text.length % 4 === 0;
const is32Numbers = (v: unknown): boolean => Array.isArray(v) && v.length === 32 && v.every((n) => Number.isInteger(n) && n >= 0 && n <= 255);

describe('a damocles worker on a trusted network, without a token', () => {
  let m: TestManager;
  let rpcUrl: string;
  let id = 0;

  before(async () => {
    const home = tempDir('damocles');
    m = await startTestManager(home, {
      managerToml: `${defaultDevnetConfig(join(home, 'persist'))}\n[api]\ntrusted_networks = ["${WORKER_HOST}/31"]\n`,
    });
    rpcUrl = `${m.url}/rpc/v0`;
  });
  after(() => m?.daemon.kill());

  /** A call as damocles' worker makes it: POST, JSON, positional params, no Authorization header. */
  const rawCall = (method: string, params: unknown[], from = WORKER_HOST, headers: Record<string, string> = {}) =>
    send(rpcUrl, {
      from,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }),
    });

  const venus = async <T>(method: string, params: unknown[]): Promise<T> => {
    const res = await rawCall(method, params);
    assert.equal(res.status, 200, `${method}: HTTP ${res.status} ${res.body.toString()}`);
    const body = JSON.parse(res.body.toString()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.code} ${body.error.message}`);
    assert.ok('result' in body, `${method}: no result`);
    return body.result as T;
  };

  /** The manager as this worker sees it, for the plan steps FakeSealer plays (its mock proof, its files). */
  const asDamocles = (): TestManager => ({ ...m, call: (method, params = []) => venus(method, params) });

  const workerId = { Instance: 'damocles-1', Location: '/var/lib/damocles/thread-0' };
  const report = (sector: AllocatedSector, prev: string, next: string) =>
    venus<unknown>('Venus.ReportState', [sector.ID, { Worker: workerId, StateChange: { Prev: prev, Next: next, Event: 'None' }, Failure: null }]);

  /** Damocles' sealer plan after AcquireDeals, in its order, with the pieces the worker added. */
  async function sealAsDamocles(sector: AllocatedSector, addedPieces: SectorPieceV2[]): Promise<void> {
    const s = new FakeSealer(asDamocles(), sector);
    s.pieces = addedPieces;
    const state = await report(sector, 'Empty', 'Allocated');
    assert.deepEqual(state, { Id: sector.ID, Finalized: false, AbortReason: null }, 'SectorState: key "Id", Option<String> AbortReason');
    await report(sector, 'Allocated', 'DealsAcquired');
    await report(sector, 'DealsAcquired', 'PieceAdded');
    await report(sector, 'PieceAdded', 'TreeDBuilt');
    const ticket = await venus<{ Ticket: string; Epoch: number }>('Venus.AssignTicket', [sector.ID]);
    assert.deepEqual(Object.keys(ticket).sort(), ['Epoch', 'Ticket']);
    assert.ok(isBase64(ticket.Ticket) && b64Bytes(ticket.Ticket) === 32, `Ticket is base64 of 32 bytes: ${ticket.Ticket}`);
    assert.ok(Number.isInteger(ticket.Epoch));
    s.ticket = ticket;
    await report(sector, 'TreeDBuilt', 'TicketAssigned');
    await report(sector, 'TicketAssigned', 'PC1Done');
    const info = s.preCommitInfo();
    assert.ok(is32Numbers(info.CommR) && is32Numbers(info.CommD));
    const pre = await venus<{ Res: number; Desc: string | null }>('Venus.SubmitPreCommit', [sector, info, false]);
    assert.deepEqual(pre, { Res: SubmitResult.Accepted, Desc: null }, 'CommD from the added bytes matches the pieces');
    await report(sector, 'PC1Done', 'PC2Done');
    const landed = await s.waitLanded('Venus.PollPreCommitState');
    assert.deepEqual(Object.keys(landed).sort(), ['Desc', 'State']);
    await report(sector, 'PC2Done', 'PCSubmitted');
    const store = await venus<{ Name: string; Path: string; Meta: Record<string, string> | null }>('Venus.StoreReserveSpace', [sector.ID, 2 * 2048, ['local']]);
    assert.equal(store.Name, 'local');
    assert.ok(store.Meta === null || typeof store.Meta === 'object');
    s.persistFiles(store.Path);
    await report(sector, 'PCSubmitted', 'PCLanded');
    assert.equal(await venus('Venus.SubmitPersistedEx', [sector.ID, store.Name, false]), true);
    await report(sector, 'PCLanded', 'Persisted');
    const seed = await eventually('a seed', async () => {
      const r = await venus<{ ShouldWait: boolean; Delay: number; Seed: { Seed: string; Epoch: number } | null }>('Venus.WaitSeed', [sector.ID, sector.ProofType]);
      assert.deepEqual(Object.keys(r).sort(), ['Delay', 'Seed', 'ShouldWait']);
      if (r.ShouldWait) {
        assert.ok(Number.isInteger(r.Delay) && r.Delay >= 1, `Delay is whole seconds: ${r.Delay}`);
        return undefined;
      }
      return r.Seed ?? undefined;
    }, 60_000);
    assert.ok(isBase64(seed.Seed) && b64Bytes(seed.Seed) === 32, `Seed is base64 of 32 bytes: ${seed.Seed}`);
    await report(sector, 'Persisted', 'PersistanceSubmitted');
    await report(sector, 'PersistanceSubmitted', 'SeedAssigned');
    await report(sector, 'SeedAssigned', 'C1Done');
    const proof = await venus<{ Res: number; Desc: string | null }>('Venus.SubmitProof', [sector.ID, { Proof: s.proof(seed) }, false]);
    assert.equal(proof.Res, SubmitResult.Accepted, proof.Desc ?? '');
    await report(sector, 'C1Done', 'C2Done');
    await s.waitLanded('Venus.PollProofState');
    await report(sector, 'C2Done', 'ProofSubmitted');
    await report(sector, 'ProofSubmitted', 'Finished');
    assert.equal(await venus('Venus.ReportFinalized', [sector.ID]), null);
    const shown = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'state', formatSectorId({ miner: sector.ID.Miner, number: sector.ID.Number }), '--json', '--home', m.home]);
    assert.equal(shown.code, 0, shown.stderr);
    const detail = JSON.parse(shown.stdout) as { Status: string; Worker: string; Pieces: unknown[] };
    assert.equal(detail.Status, 'finalized');
    assert.equal(detail.Worker, workerId.Instance);
    assert.equal(detail.Pieces.length, addedPieces.length);
  }

  const allocate = async (): Promise<AllocatedSector> => {
    const sector = await venus<AllocatedSector | null>('Venus.AllocateSector', [{ AllowedMiners: [], AllowedProofTypes: [] }]);
    assert.ok(sector, 'a sector is allocated');
    assert.deepEqual(Object.keys(sector).sort(), ['ID', 'ProofType']);
    assert.deepEqual(Object.keys(sector.ID).sort(), ['Miner', 'Number']);
    assert.equal(sector.ProofType, 5);
    return sector;
  };

  it('the manager says at start which networks it trusts', () => {
    const line = m.daemon.stdout().split('\n').find((l) => l.includes('trusted_networks'));
    assert.ok(line, m.daemon.stdout());
    assert.deepEqual((JSON.parse(line) as { trustedNetworks: string[] }).trustedNetworks, [`${WORKER_HOST}/31`]);
  });

  it('starts up like damocles: StoreBasicInfo for its store, then WorkerPing, bound to its address', async () => {
    const store = await venus<{ Name: string; Path: string; Meta: unknown }>('Venus.StoreBasicInfo', ['local']);
    assert.equal(store.Name, 'local');
    assert.equal(typeof store.Path, 'string');
    assert.equal(await venus('Venus.StoreBasicInfo', ['no-such-store']), null, 'an unknown store is null, which damocles refuses to start on');
    const ping = { Name: workerId.Instance, Dest: `${WORKER_HOST}:17890`, Version: 'damocles-worker v0.11.0', Summary: { Threads: 1, Empty: 1, Paused: 0, Running: 0, Waiting: 0, Errors: 0 } };
    assert.equal(await venus('Venus.WorkerPing', [ping]), null);
    const listed = await runCli(MANAGER_BIN, ['util', 'worker', 'list', '--json', '--home', m.home]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { Name: string }[]).some((w) => w.Name === workerId.Instance), listed.stdout);
    // Another host of the trusted network cannot take the name over: tokenless names are bound to the source address.
    const taken = await rawCall('Venus.WorkerPing', [{ ...ping, Dest: `${NEIGHBOUR_HOST}:17890` }], NEIGHBOUR_HOST);
    const error = (JSON.parse(taken.body.toString()) as { error?: { code: number; message: string } }).error;
    assert.equal(error?.code, RPC_CODES.Unauthorized, taken.body.toString());
    assert.match(error?.message ?? '', /registered to another credential/);
  });

  it('seals a CC sector with damocles call sequence and JSON shapes', async () => {
    const sector = await allocate();
    assert.equal(await venus('Venus.AcquireDeals', [sector.ID, { MaxDeals: null, MinUsedSpace: null }]), null, 'no deals: a CC sector');
    // add_pieces without pieces: the staged file is all zeros, its CommD the zero commitment of the sector size.
    await sealAsDamocles(sector, []);
  });

  it('seals a deal sector whose piece bytes it fetched from the piece store like damocles fetcher', async () => {
    const payload = randomBytes(1000);
    const file = join(tempDir('payload'), 'deal.bin');
    writeFileSync(file, payload);
    const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
    assert.equal(imported.code, 0, imported.stderr);
    const pieceCid = imported.stdout.split(/\s+/)[0] as string;

    const sector = await allocate();
    const pieces = await venus<SectorPieceV2[] | null>('Venus.AcquireDeals', [sector.ID, { MaxDeals: null, MinUsedSpace: null }]);
    assert.ok(pieces && pieces.length === 1, JSON.stringify(pieces));
    const [piece] = pieces as [SectorPieceV2];
    assert.equal(piece.Piece.PieceCID['/'], pieceCid);
    const deal = piece.DealInfo;
    // damocles-worker: is_pledge = IsBuiltinMarket ? DealID == 0 : AllocationID == 0
    const isPledge = deal.IsBuiltinMarket ? deal.DealID === 0 : deal.AllocationID === 0;
    assert.equal(isPledge, false, `a damocles worker must read this piece as data: ${JSON.stringify(deal)}`);
    assert.equal(deal.PayloadSize, payload.length);
    assert.ok(deal.EndEpoch > deal.StartEpoch && deal.StartEpoch > 0, `a sensible term: ${deal.StartEpoch}..${deal.EndEpoch}`);

    // The fetcher: GET <manager origin>/piecestore/<cid>, no Authorization header, redirects not followed;
    // it reads PayloadSize bytes and pads them with zeros to the unpadded piece size.
    const origin = new URL(rpcUrl).origin;
    const fetched = await send(`${origin}/piecestore/${pieceCid}`, { from: WORKER_HOST });
    assert.equal(fetched.status, 200, fetched.body.toString());
    assert.equal(Number(fetched.headers['content-length']), deal.PayloadSize);
    const inflated = Buffer.alloc(unpaddedPieceSize(piece.Piece.Size));
    fetched.body.copy(inflated, 0, 0, deal.PayloadSize);
    const added = await pieceCommitment(inflated);
    assert.equal(added.paddedSize, piece.Piece.Size);
    const addedCid = commitmentToCid('unsealed', added.commP).toString();
    assert.equal(addedCid, pieceCid, 'the bytes served are the piece the CID names');

    await sealAsDamocles(sector, [{ ...piece, Piece: { Size: added.paddedSize, PieceCID: { '/': addedCid } } }]);

    // What else the piece store answers: outsiders need a token, which only goes in the header.
    const outside = await send(`${origin}/piecestore/${pieceCid}`, { from: OUTSIDE_HOST });
    assert.equal(outside.status, 401);
    assert.match(outside.body.toString(), /Authorization: Bearer .*trusted_networks/);
    const token = readFileSync(join(m.home, 'token'), 'utf8').trim();
    const withToken = await send(`${origin}/piecestore/${pieceCid}`, { from: OUTSIDE_HOST, headers: { authorization: `Bearer ${token}` } });
    assert.equal(withToken.status, 200);
    assert.deepEqual(withToken.body, payload);
    assert.equal((await send(`${origin}/piecestore/${pieceCid}?token=${token.slice(0, 8)}`, { from: WORKER_HOST })).status, 400);
    assert.equal((await send(`${origin}/piecestore/${pieceCid}`, { from: WORKER_HOST, headers: { authorization: 'Bearer wrong' } })).status, 401);
  });

  it('refuses a call without a token from outside the trusted networks, saying how to get in', async () => {
    const res = await rawCall('Venus.StoreBasicInfo', ['local'], OUTSIDE_HOST);
    assert.equal(res.status, 401);
    const error = (JSON.parse(res.body.toString()) as { error: { code: number; message: string } }).error;
    assert.equal(error.code, RPC_CODES.Unauthorized);
    assert.match(error.message, /Authorization: Bearer <token>/);
    assert.match(error.message, /\[api\] trusted_networks/);
    assert.match(error.message, new RegExp(OUTSIDE_HOST.replaceAll('.', '\\.')));
  });

  it('judges a call that carries a credential by it, even from a trusted network', async () => {
    for (const authorization of ['Bearer wrong', 'Basic ZGFtb2NsZXM6eA==', 'Bearer ']) {
      const res = await rawCall('Venus.StoreBasicInfo', ['local'], WORKER_HOST, { authorization });
      assert.equal(res.status, 401, `${authorization}: ${res.body.toString()}`);
      assert.match(res.body.toString(), /token refused/);
    }
  });

  it('gives a tokenless caller on a trusted network worker permission, never admin, on every method', async () => {
    const wrong: string[] = [];
    for (const [name, def] of Object.entries(registeredManagerMethods())) {
      // Too many params: a call that passes auth is refused by validation and changes nothing.
      const res = await rawCall(name, Array<null>(10).fill(null));
      const code = (JSON.parse(res.body.toString()) as { error?: { code: number } }).error?.code;
      const expected = allows('write', def.perm as Permission) ? RPC_CODES.InvalidParams : RPC_CODES.Unauthorized;
      if (res.status !== 200 || code !== expected) wrong.push(`${name} (needs ${def.perm}): HTTP ${res.status}, code ${code}, expected ${expected}`);
    }
    assert.deepEqual(wrong, []);
    assert.ok(Object.values(registeredManagerMethods()).some((d) => d.perm === 'admin'), 'there are admin methods to refuse');
  });
});

describe('[api] trusted_networks', () => {
  it('matches IPv4 networks, IPv4-mapped IPv6 sources, and IPv6 networks', () => {
    const trusted = new TrustedNetworks(['10.1.0.0/16', 'fd00::/8'].map(parseNetwork));
    assert.equal(trusted.match('10.1.2.3')?.text, '10.1.0.0/16');
    assert.equal(trusted.match('::ffff:10.1.2.3')?.text, '10.1.0.0/16');
    assert.equal(trusted.match('10.2.0.1'), null);
    assert.equal(trusted.match('fd12:3456::1')?.text, 'fd00::/8');
    assert.equal(trusted.match('fe80::1'), null);
    assert.equal(trusted.match(undefined), null);
    assert.equal(new TrustedNetworks([]).match('127.0.0.1'), null);
    assert.deepEqual(['0.0.0.0/0', '::/0', '4.0.0.0/6', '10.0.0.0/8', 'fd00::/8'].map((n) => isWide(parseNetwork(n))), [true, true, true, false, false]);
  });

  it('a bad entry stops the manager with an error naming it', async () => {
    const home = tempDir('trusted-bad');
    mkdirSync(home, { recursive: true });
    for (const [entry, why] of [
      ['10.1.0.0', /no prefix length/],
      ['10.1.0.0/33', /prefix length "33" is not a whole number from 0 to 32/],
      ['10.1.0/16', /"10\.1\.0" is not an IPv4 or IPv6 address/],
      ['fd00::/129', /from 0 to 128/],
    ] as const) {
      writeFileSync(join(home, 'manager.toml'), `${defaultDevnetConfig(join(home, 'persist'))}\n[api]\ntrusted_networks = ["10.1.0.0/16", "${entry}"]\n`);
      const res = await runCli(MANAGER_BIN, ['daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0']);
      assert.notEqual(res.code, 0, entry);
      assert.match(res.stderr, new RegExp(`api\\.trusted_networks\\.1: "${entry.replaceAll('.', '\\.')}" is not a network`), res.stderr);
      assert.match(res.stderr, why, res.stderr);
    }
  });
});
