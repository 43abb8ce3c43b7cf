import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { RpcClient } from '../../src/core/rpc/client.js';
import { RPC_CODES, RpcError, RpcTransportError } from '../../src/core/rpc/errors.js';
import { method, RpcServer, serveHttp, type Permission } from '../../src/core/rpc/server.js';

/** Posts a raw body and returns status and parsed JSON (or text). */
function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json: unknown = text;
        try {
          json = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorOf = (json: unknown): { code: number; message: string } => (json as { error: { code: number; message: string } }).error;

describe('JSON-RPC over HTTP', () => {
  let url: string;
  let close: () => Promise<void>;
  const TOKENS: Record<string, Permission> = { r: 'read', w: 'write', a: 'admin' };

  before(async () => {
    const server = new RpcServer({
      maxBodyBytes: 4096,
      authorize: (token) => {
        const perm = token === undefined ? 'read' : TOKENS[token];
        if (!perm) throw new Error('unknown token');
        return { perm, credential: token ?? null, worker: null };
      },
    });
    server.register({
      'Test.Add': method([z.number(), z.number()], (a, b) => a + b),
      'Test.Greet': method([z.string(), z.string().optional()], (name, greeting) => `${greeting ?? 'hello'} ${name}`),
      'Test.Fail': method([], () => {
        throw new Error('the disk is full');
      }),
      'Test.Coded': method([], () => {
        throw new RpcError(11001, 'sector state not found');
      }),
      'Test.Slow': method([z.number()], (ms) => new Promise((r) => setTimeout(() => r('late'), ms))),
      'Test.Write': method([], () => 'written', 'write'),
      'Test.Admin': method([], () => 'ok', 'admin'),
    });
    const http = await serveHttp('127.0.0.1:0', { '/rpc/v0': (req, res) => server.handle(req, res) });
    url = `${http.url}/rpc/v0`;
    close = http.close;
  });
  after(() => close());

  it('answers positional calls through the client', async () => {
    const client = new RpcClient({ url });
    assert.equal(await client.call('Test.Add', [2, 3]), 5);
    assert.equal(await client.call('Test.Greet', ['operator']), 'hello operator');
    assert.equal(await client.call('Test.Greet', ['operator', 'hi']), 'hi operator');
  });

  it('keeps its connections in a pool of its own when given one, in the shared pool otherwise', async () => {
    const agent = new Agent({ keepAlive: true });
    const held = (): number => [...Object.values(agent.sockets), ...Object.values(agent.freeSockets)].reduce((n, list) => n + (list?.length ?? 0), 0);
    try {
      assert.equal(await new RpcClient({ url, agents: { http: agent } }).call('Test.Add', [1, 2]), 3);
      assert.equal(held(), 1, 'the call went over a connection of the given pool, kept alive');
      assert.equal(await new RpcClient({ url }).call('Test.Add', [3, 4]), 7);
      assert.equal(held(), 1, 'a client without a pool of its own does not use it');
    } finally {
      agent.destroy();
    }
  });

  it('gives standard errors for malformed JSON, unknown methods, arity and types, and keeps serving', async () => {
    const bad = await post(url, '{"jsonrpc":"2.0","id":1,"method":');
    assert.equal(errorOf(bad.json).code, RPC_CODES.ParseError);

    const notRequest = await post(url, '{"hello":"world"}');
    assert.equal(errorOf(notRequest.json).code, RPC_CODES.InvalidRequest);

    const client = new RpcClient({ url });
    await assert.rejects(client.call('Test.Nope', []), (e: RpcError) => e.code === RPC_CODES.MethodNotFound);
    await assert.rejects(
      client.call('Test.Add', [1]),
      (e: RpcError) => e.code === RPC_CODES.InvalidParams && /wrong param count for Test.Add: expected 2, got 1/.test(e.message),
    );
    await assert.rejects(client.call('Test.Add', [1, 2, 3]), (e: RpcError) => e.code === RPC_CODES.InvalidParams);
    await assert.rejects(
      client.call('Test.Add', [1, 'two']),
      (e: RpcError) => e.code === RPC_CODES.InvalidParams && /param 1/.test(e.message),
    );
    const named = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'Test.Add', params: { a: 1, b: 2 } }));
    assert.match(errorOf(named.json).message, /positional params/);
    assert.equal(await client.call('Test.Add', [40, 2]), 42);
  });

  it('refuses an oversized body with 413 and stays up', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Test.Greet', params: ['x'.repeat(10_000)] });
    const res = await post(url, big);
    assert.equal(res.status, 413);
    assert.match(errorOf(res.json).message, /exceeds 4096 bytes/);
    assert.equal(await new RpcClient({ url }).call('Test.Add', [1, 1]), 2);
  });

  it('turns handler failures into application errors, keeping chosen codes', async () => {
    const client = new RpcClient({ url });
    await assert.rejects(client.call('Test.Fail'), (e: RpcError) => e.code === RPC_CODES.Application && e.message === 'the disk is full');
    await assert.rejects(client.call('Test.Coded'), (e: RpcError) => e.code === 11001);
  });

  it('answers batches and stays silent for notifications', async () => {
    const batch = await post(url, JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'Test.Add', params: [1, 2] },
      { jsonrpc: '2.0', id: 2, method: 'Test.Nope', params: [] },
    ]));
    const replies = batch.json as { id: number; result?: number; error?: { code: number } }[];
    assert.equal(replies.find((r) => r.id === 1)?.result, 3);
    assert.equal(replies.find((r) => r.id === 2)?.error?.code, RPC_CODES.MethodNotFound);
    const note = await post(url, JSON.stringify({ jsonrpc: '2.0', method: 'Test.Add', params: [1, 2] }));
    assert.equal(note.status, 204);
  });

  it('checks the bearer token against each method permission', async () => {
    await assert.rejects(new RpcClient({ url }).call('Test.Write'), (e: RpcError) => e.code === RPC_CODES.Unauthorized && /need 'write'/.test(e.message));
    assert.equal(await new RpcClient({ url, token: 'w' }).call('Test.Write'), 'written');
    await assert.rejects(new RpcClient({ url, token: 'w' }).call('Test.Admin'), (e: RpcError) => e.code === RPC_CODES.Unauthorized);
    assert.equal(await new RpcClient({ url, token: 'a' }).call('Test.Admin'), 'ok');
    const refused = await post(url, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'Test.Add', params: [1, 2] }), { authorization: 'Bearer forged' });
    assert.equal(refused.status, 401);
  });

  it('times a call out per call and reports unreachable servers as transport errors', async () => {
    const client = new RpcClient({ url, timeoutMs: 100 });
    await assert.rejects(client.call('Test.Slow', [1000]), (e: Error) => e instanceof RpcTransportError && /timed out after 100ms/.test(e.message));
    assert.equal(await client.call('Test.Slow', [10], { timeoutMs: 2000 }), 'late');
    const dead = new RpcClient({ url: 'http://127.0.0.1:9/rpc/v0', timeoutMs: 2000 });
    await assert.rejects(dead.call('Test.Add', [1, 2]), (e: Error) => e instanceof RpcTransportError && /Test.Add to http:\/\/127.0.0.1:9/.test(e.message));
    assert.throws(() => new RpcClient({ url: 'not a url' }), /invalid RPC URL "not a url"/);
  });

  it('validates results against a schema when asked', async () => {
    const client = new RpcClient({ url });
    await assert.rejects(client.call('Test.Add', [1, 2], { schema: z.string() }), /unexpected result shape/);
  });
});
